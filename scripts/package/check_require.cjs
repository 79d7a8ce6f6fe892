// `require`s the installed package and prints the probe's report as one JSON line.
"use strict";
const api = require("tableflip");
const probe = require("./probe.cjs");

probe(api, require.resolve("tableflip"), "require").then((report) => {
  console.log(JSON.stringify(report));
});
