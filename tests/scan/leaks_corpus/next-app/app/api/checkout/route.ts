import Stripe from "stripe";

const stripe = new Stripe("sk_live_51AdggcG9qpVTzqA05MFsHl7UeioEJP2");

export async function POST(request: Request) {
  const session = await stripe.checkout.sessions.create(await request.json());
  return Response.json({ id: session.id });
}
