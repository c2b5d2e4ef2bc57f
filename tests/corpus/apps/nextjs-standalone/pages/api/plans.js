export default function handler(req, res) {
  res.status(200).json([
    { name: "Hobby", price: 0 },
    { name: "Team", price: 29 },
    { name: "Business", price: 99 },
  ]);
}
