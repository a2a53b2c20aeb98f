/**
 * `@curator/node/dashboard`: the web dashboard over a checkpoint. Needs the
 * optional peer `chart.js` (`npm install chart.js`), whose browser build the
 * page loads.
 */
export * as Dashboard from "../Dashboard.js"
