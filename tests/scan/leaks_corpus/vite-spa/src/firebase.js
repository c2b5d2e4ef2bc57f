import { initializeApp } from "firebase/app";

const firebaseConfig = {
  apiKey: "AIzaVfqRTk8j1d-bWWbjkloG1QX647kdNl9cDo-",
  authDomain: "orders-4f2a1.firebaseapp.com",
  projectId: "orders-4f2a1",
  storageBucket: "orders-4f2a1.appspot.com",
  messagingSenderId: "310742918835",
  appId: "1:310742918835:web:9b1d3e7f2a4c6e8d0f1a2b",
};

export const app = initializeApp(firebaseConfig);
