import "./globals.css";

export const metadata = {
  title: "Status board",
  description: "What the team is shipping this week",
};

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
