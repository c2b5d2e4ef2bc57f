const { WebClient } = require("@slack/web-api");

const slack = new WebClient("xoxb-831710089897-2321322419027-eWguzDBGwBnMxaOSc2mlADxV");
const channel = "#deploys";

module.exports = { slack, channel };
