"use client";

import { loadStripe } from "@stripe/stripe-js";

const stripePromise = loadStripe("pk_live_51NNern66nVberACpdclsxHKifxi5CvQ");
const publishableKey = process.env.NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY;

export function Checkout() {
  return <button onClick={() => stripePromise}>Pay</button>;
}
