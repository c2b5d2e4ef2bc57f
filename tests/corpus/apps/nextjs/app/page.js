import Link from "next/link";

const items = [
  { id: 1, title: "Ship the onboarding flow", done: true },
  { id: 2, title: "Billing page redesign", done: false },
  { id: 3, title: "Fix flaky upload test", done: false },
];

export const dynamic = "force-dynamic";

export default function Home() {
  const open = items.filter((item) => !item.done).length;
  return (
    <main>
      <h1>Status board</h1>
      <p>
        {open} open items, rendered at {new Date().toISOString()}
      </p>
      <ul>
        {items.map((item) => (
          <li key={item.id} className={item.done ? "done" : undefined}>
            {item.title}
          </li>
        ))}
      </ul>
      <Link href="/about">About this board</Link>
    </main>
  );
}
