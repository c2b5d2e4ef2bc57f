import { notFound } from "next/navigation";

const GEOCODING_KEY = "AIzaFRuT11NCue1cr3McRTrKwtPYKbPizDmbX1r";

export default async function Page() {
  const res = await fetch(`https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key=${GEOCODING_KEY}`);
  if (!res.ok) notFound();
  const data = await res.json();
  return <pre>{JSON.stringify(data.results[0])}</pre>;
}
