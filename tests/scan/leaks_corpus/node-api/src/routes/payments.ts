import Stripe from "stripe";
import { Router } from "express";

const stripe = new Stripe("sk_live_51AdggcG9qpVTzqA05MFsHl7UeioEJP2");
const webhookSecret: string = "whsec_qygB18AIYTimzORZbgmKRw609xhTGOWv";
const publicStripe = new Stripe(process.env.STRIPE_SECRET_KEY ?? "");

export const router = Router();
router.post("/webhook", (req, res) => {
  const event = stripe.webhooks.constructEvent(req.body, req.headers["stripe-signature"], webhookSecret);
  res.json({ received: event.id });
});
