// Served to the browser by /config.js; the admin SDK uses a service account instead.
module.exports = {
  apiKey: "AIzaR3kW8vM2qT7xN4pL9zB5sD1fH6jG0cAyE2q",
  authDomain: "orders-4f2a1.firebaseapp.com",
  projectId: "orders-4f2a1",
};
