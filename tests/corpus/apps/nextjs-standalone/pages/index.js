import Head from "next/head";
import Image from "next/image";

const plans = [
  { name: "Hobby", price: 0, features: ["1 project", "Community support"] },
  { name: "Team", price: 29, features: ["10 projects", "Email support"] },
  { name: "Business", price: 99, features: ["Unlimited projects", "SSO", "SLA"] },
];

export async function getServerSideProps() {
  return { props: { plans, currency: process.env.PRICING_CURRENCY || "USD" } };
}

export default function Pricing({ plans, currency }) {
  return (
    <>
      <Head>
        <title>Pricing</title>
      </Head>
      <main>
        <Image src="/logo.svg" alt="Acme" width={48} height={48} unoptimized />
        <h1>Simple pricing</h1>
        <div className="plans">
          {plans.map((plan) => (
            <section key={plan.name}>
              <h2>{plan.name}</h2>
              <p>
                {plan.price} {currency}/month
              </p>
              <ul>
                {plan.features.map((f) => (
                  <li key={f}>{f}</li>
                ))}
              </ul>
            </section>
          ))}
        </div>
      </main>
    </>
  );
}
