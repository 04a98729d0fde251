// Drives the demo page in headless Chromium (puppeteer-core, the system's /usr/bin/chromium) for
// tests/test_web_demo.py: runs the page's own pipeline on a job and writes what it computed.
// Usage: node test/browser_check.mjs URL job.json out.json screenshot.png
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const [url, jobPath, outPath, shotPath] = process.argv.slice(2);
const job = JSON.parse(fs.readFileSync(jobPath, 'utf8'));
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'web-demo-chromium-'));
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  userDataDir,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await page.setViewport({width: 1100, height: 900});
  await page.goto(url, {waitUntil: 'load', timeout: 60000});
  try {
    await page.evaluate(() => window.demo.ready);
  } catch (e) {
    throw new Error(`page did not start: ${e.message}\n${logs.join('\n')}`);
  }
  const out = await page.evaluate(async (job) => {
    const result = {classifier: {}, qa: {}, tokenize: {}};
    for (const c of job.classifier) {
      const rows = [];
      for (const text of c.texts) rows.push(await window.demo.classify(c.model, text));
      result.classifier[c.model] = rows;
      result.tokenize[c.model] = await Promise.all(c.texts.map((t) => window.demo.tokenize(c.model, t)));
    }
    for (const q of job.qa) {
      const rows = [];
      for (const c of q.cases) rows.push(await window.demo.answer(q.model, c.context, c.question));
      result.qa[q.model] = rows;
    }
    return result;
  }, job);
  // the screenshot: the QA screen answering a real SQuAD question
  const shot = job.screenshot;
  await page.evaluate(async (shot) => {
    window.demo.switchTo('qa');
    document.getElementById('model').value = shot.model;
    await window.demo.showInfo(shot.model);
    document.getElementById('context').value = shot.context;
    document.getElementById('question').value = shot.question;
    await window.demo.onAnswer();
  }, shot);
  out.screen = await page.evaluate(() => ({
    mark: document.querySelector('#qa-context mark')?.textContent ?? null,
    latency: document.getElementById('qa-latency').textContent,
    info: document.getElementById('model-info').textContent,
    status: document.getElementById('status').textContent,
  }));
  // a dynamic-length classifier on the classification screen: what runs, and the note the page shows
  if (job.classifier_screen) {
    out.classifier_screen = await page.evaluate(async (c) => {
      window.demo.switchTo('classifier');
      document.getElementById('model').value = c.model;
      await window.demo.showInfo(c.model);
      const note = document.getElementById('model-note');
      const shown = {info: document.getElementById('model-info').textContent, note: note.hidden ? null : note.textContent,
                     options: Array.from(document.getElementById('model').options).map((o) => o.value)};
      document.getElementById('text').value = c.text;
      await window.demo.onClassify();
      shown.latency = document.getElementById('classifier-latency').textContent;
      shown.result = document.getElementById('classifier-result').textContent;
      window.demo.switchTo('qa');
      return shown;
    }, job.classifier_screen);
  }
  // the same page on another models folder (dynamic models missing or broken there)
  if (job.other) {
    const other = await browser.newPage();
    other.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    await other.goto(job.other.url, {waitUntil: 'load', timeout: 60000});
    await other.evaluate(() => window.demo.ready);
    out.other = await other.evaluate(async (job) => {
      const result = {};
      for (const c of job.classifier) {
        const rows = [];
        for (const text of c.texts) rows.push(await window.demo.classify(c.model, text));
        result[c.model] = rows;
      }
      return result;
    }, job.other);
    await other.close();
  }
  await page.screenshot({path: shotPath, fullPage: true});
  out.logs = logs;
  fs.writeFileSync(outPath, JSON.stringify(out));
} finally {
  await browser.close();
  fs.rmSync(userDataDir, {recursive: true, force: true});
}
