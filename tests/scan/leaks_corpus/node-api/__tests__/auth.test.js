const jwt = require("jsonwebtoken");

test("signs", () => {
  const token = jwt.sign({ id: 1 }, "GFPnShWzKbhNgVpqCzGd");
  const stripeKey = "sk_test_51USHL8iLc7bE6wSt9cbMOeEeUtuieeC";
  expect(token).toBeTruthy();
  expect(stripeKey).toMatch(/^sk_test_/);
});
