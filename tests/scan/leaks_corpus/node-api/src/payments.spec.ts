import { router } from "./routes/payments";

const TEST_WEBHOOK_SECRET = "whsec_Tz8Q1mN4vB7cX2kL9pR5sW3yH6jF0gD";

describe("webhook", () => {
  it("has routes", () => expect(router).toBeDefined());
});
