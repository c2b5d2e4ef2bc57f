// Calls the GitHub API straight from the browser: the token ships to every visitor.
const GITHUB_TOKEN = "ghp_pXjYdOhCgOIPOZx9eRmm0EqlTaWEITclorXw";

export async function repos() {
  const res = await fetch("https://api.github.com/user/repos", {
    headers: { Authorization: `Bearer ${GITHUB_TOKEN}` },
  });
  return res.json();
}
export const apiBase = import.meta.env.VITE_API_BASE;
