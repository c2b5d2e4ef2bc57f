export default function Home() {
  return (
    <main>
      <h1>Welcome to my app</h1>
    </main>
  );
}
