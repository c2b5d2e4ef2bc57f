export default function About() {
  return (
    <main>
      <h1>About</h1>
      <p>The status board lists what the team is shipping this week.</p>
    </main>
  );
}
