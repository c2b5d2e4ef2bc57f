#!/usr/bin/env node
const { Octokit } = require("@octokit/rest");

const octokit = new Octokit({ auth: "ghp_Wk3vN8qT2xM7rL5pZ9bD4sF1hJ6gC0aYeR2t" });
const twilio = require("twilio")("AC8f3e1d7c9b2a4f6e8d0c1b3a5f7e9d2c4b", "e4b7d1f9a3c6e8b2d5f0a7c9e1b3d6f8");
const apiKey = process.env.ORDERS_API_KEY;
const secret = `${process.env.PREFIX}-${apiKey}`;
const password = "********";
const tokenHint = "use a token from https://github.com/settings/tokens";

module.exports = { octokit, twilio, secret, password, tokenHint };
