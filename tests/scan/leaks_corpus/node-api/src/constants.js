export const TOKEN_STORAGE_KEY = "orders.auth.token";
export const API_KEY_HEADER = "x-api-key";
export const SECRET_MANAGER_PATH = "projects/orders/secrets/db/versions/latest";
export const passwordPattern = "^(?=.*[A-Z])(?=.*\\d).{8,}$";
export const config = {
  apiKey: process.env.API_KEY,
  secret: process.env.SESSION_SECRET || "",
  tokenUrl: "https://auth.orders.io/oauth/token",
  integrity: "sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC",
};
export const placeholderKey = "<YOUR_API_KEY>";
export const sampleToken = "sk_live_xxxxxxxxxxxxxxxxxxxxxxxx";
