import { loadStripe } from "@stripe/stripe-js";

export const stripePromise = loadStripe("pk_live_51NNern66nVberACpdclsxHKifxi5CvQ");
