// node measure.mjs PAGE_URL BASELINE_URL RUNS HEADING
// Loads PAGE_URL in a fresh browser context (cold cache) RUNS times and reports how long after
// the navigation started the heading HEADING was visible (the page rendered from the API), and
// the same for BASELINE_URL's load event (a plain JSON answer of the same server). Prints JSON.
import { chromium } from 'playwright-core';

const [pageUrl, baselineUrl, runsArg, heading] = process.argv.slice(2);
const runs = Number(runsArg || 20);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
});

async function once(url, ready) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(url, { waitUntil: 'commit' });
  await ready(page);
  const ms = await page.evaluate(() => performance.now()); // since the navigation started
  await context.close();
  return ms;
}

const measure = async (url, ready) => {
  await once(url, ready); // warm-up: the server's first answer
  const times = [];
  for (let i = 0; i < runs; i++) times.push(await once(url, ready));
  return times;
};

const pageTimes = await measure(pageUrl, (p) => p.getByRole('heading', { level: 1, name: heading }).waitFor());
const baselineTimes = await measure(baselineUrl, (p) => p.waitForLoadState('load'));
await browser.close();
console.log(JSON.stringify({ page: pageTimes, baseline: baselineTimes }));
