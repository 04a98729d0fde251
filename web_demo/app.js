// The demo page: the Android app's two screens on LiteRT.js (wasm CPU backend). Models and their manifest
// (models.json, the Android demo's format) are served under /models/ by `mobilebert web-demo --models DIR`.
import {loadAndCompile, loadLiteRt, Tensor} from '@litertjs/core';
import {classifierPreprocess, normalizeText, originalSpan, phoneIds, qaPostprocess, qaPreprocess, readMetadataZip,
        WordpieceTokenizer} from './bert.js';

const $ = (id) => document.getElementById(id);
const loaded = new Map();  // file -> {compiled, tokenizer, labels, entry}
let manifest = null;
let screen = 'qa';

const EXAMPLE_CONTEXT = 'Super Bowl 50 was an American football game to determine the champion of the National ' +
  'Football League (NFL) for the 2015 season. The American Football Conference (AFC) champion Denver Broncos ' +
  'defeated the National Football Conference (NFC) champion Carolina Panthers 24–10 to earn their third Super ' +
  'Bowl title. The game was played on February 7, 2016, at Levi\'s Stadium in the San Francisco Bay Area at ' +
  'Santa Clara, California.';

async function loadModel(file) {
  if (loaded.has(file)) return loaded.get(file);
  const entry = manifest.models.find((m) => m.file === file);
  if (!entry) throw new Error(`${file} is not in models.json`);
  const bytes = new Uint8Array(await (await fetch(`/models/${file}`)).arrayBuffer());
  const files = readMetadataZip(bytes);
  const vocabName = entry.tokenizer?.vocab_file || 'vocab.txt';
  if (!files[vocabName]) throw new Error(`${file}: no ${vocabName} in its metadata`);
  const text = new TextDecoder();
  const tokenizer = WordpieceTokenizer.fromText(text.decode(files[vocabName]));
  const labels = files['labels.txt'] ? text.decode(files['labels.txt']).split('\n').filter((l) => l) : entry.labels;
  // single-threaded wasm: no COOP/COEP headers needed; headless Chromium has no WebGPU
  const compiled = await loadAndCompile(bytes, {accelerator: 'wasm'});
  const model = {compiled, tokenizer, labels, entry, size: bytes.length};
  loaded.set(file, model);
  return model;
}

/** Run with int32 tensors by input name; returns {name: Float32Array} and the inference time in ms. */
async function run(model, feeds) {
  const inputs = {};
  for (const [name, data] of Object.entries(feeds)) inputs[name] = new Tensor(data, [1, data.length]);
  const t0 = performance.now();
  const outputs = await model.compiled.run(inputs);
  const arrays = {};
  for (const [name, tensor] of Object.entries(outputs)) {
    arrays[name] = Float32Array.from(tensor.toTypedArray());
    tensor.delete();
  }
  const ms = performance.now() - t0;
  for (const t of Object.values(inputs)) t.delete();
  return {arrays, ms};
}

/** Classify ``text`` with model ``file``: {labels, probs, ids, ms}. */
async function classify(file, text) {
  const model = await loadModel(file);
  const norm = normalizeText(text).text;  // as training: accents dropped, lower-cased
  const input = classifierPreprocess(model.tokenizer, norm, model.entry.seq_len);
  const {arrays, ms} = await run(model, {ids: input.ids, mask: input.mask, segment_ids: input.segmentIds});
  return {labels: model.labels, probs: Array.from(arrays.probability), ids: Array.from(input.ids), ms};
}

/** Answer ``question`` about ``context`` with model ``file``: {answers, ids, ms}; spans in the original. */
async function answer(file, context, question) {
  const model = await loadModel(file);
  const norm = normalizeText(context);
  const feature = qaPreprocess(model.tokenizer, norm.text, normalizeText(question).text, model.entry.seq_len);
  const {arrays, ms} = await run(model, {ids: feature.ids, mask: feature.mask, segment_ids: feature.segmentIds});
  const answers = qaPostprocess(feature, arrays.start_logits, arrays.end_logits, norm.text).map((a) => {
    const [s, e] = originalSpan(context, norm.source, a.charStart, a.charEnd);
    return {...a, origStart: s, origEnd: e, shown: context.slice(s, e)};
  });
  return {answers, ids: Array.from(feature.ids), ms};
}

function tokenize(file, text) {
  return loadModel(file).then((m) => phoneIds(m.tokenizer, text));
}

function showInfo(model) {
  const e = model.entry;
  const rows = [['name', e.file], ['description', e.description || ''], ['task', e.task],
                ['quantization', e.quantization], ['size', `${(model.size / 1e6).toFixed(2)} MB`],
                ['sequence length', e.seq_len], ['runtime', 'LiteRT.js 2.5.3, wasm (CPU)']];
  $('model-info').innerHTML = rows.map(([k, v]) => `<dt>${k}</dt><dd>${String(v)}</dd>`).join('');
}

function escapeHtml(s) {
  return s.replace(/[&<>"]/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]));
}

function fillModels() {
  const task = screen === 'qa' ? 'qa' : 'classifier';
  const models = manifest.models.filter((m) => m.task === task);
  $('model').innerHTML = models.map((m) => `<option value="${m.file}">${m.file} (${m.quantization})</option>`).join('');
  if (models.length) loadModel(models[0].file).then(showInfo).catch(fail);
}

function fail(e) {
  $('status').textContent = `error: ${e.message || e}`;
  console.error(e);
}

async function onAnswer() {
  const context = $('context').value;
  const result = await answer($('model').value, context, $('question').value);
  $('qa-latency').textContent = `inference ${result.ms.toFixed(1)} ms`;
  const best = result.answers[0];
  $('qa-context').innerHTML = best
    ? escapeHtml(context.slice(0, best.origStart)) + `<mark>${escapeHtml(best.shown)}</mark>` +
      escapeHtml(context.slice(best.origEnd))
    : escapeHtml(context);
  $('qa-answers').innerHTML = result.answers.map((a) =>
    `<li>${escapeHtml(a.shown)} <small>(logit ${a.logit.toFixed(2)})</small></li>`).join('');
}

async function onClassify() {
  const result = await classify($('model').value, $('text').value);
  $('classifier-latency').textContent = `inference ${result.ms.toFixed(1)} ms`;
  $('classifier-result').innerHTML = result.labels.map((label, i) =>
    `<li>${escapeHtml(label)}<span class="bar" style="width:${Math.round(200 * result.probs[i])}px"></span>` +
    `${result.probs[i].toFixed(4)}</li>`).join('');
}

function switchTo(name) {
  screen = name;
  $('tab-qa').classList.toggle('active', name === 'qa');
  $('tab-classifier').classList.toggle('active', name === 'classifier');
  $('screen-qa').hidden = name !== 'qa';
  $('screen-classifier').hidden = name !== 'classifier';
  fillModels();
}

async function main() {
  await loadLiteRt('/node_modules/@litertjs/core/wasm/');
  manifest = await (await fetch('/models/models.json')).json();
  $('status').textContent = `LiteRT.js ready (wasm); ${manifest.models.length} models in models.json`;
  $('context').value = EXAMPLE_CONTEXT;
  $('question').value = 'Which team won Super Bowl 50?';
  $('text').value = 'A charming, funny and touching café of a film.';
  $('tab-qa').onclick = () => switchTo('qa');
  $('tab-classifier').onclick = () => switchTo('classifier');
  $('model').onchange = () => loadModel($('model').value).then(showInfo).catch(fail);
  $('run-qa').onclick = () => onAnswer().catch(fail);
  $('run-classifier').onclick = () => onClassify().catch(fail);
  fillModels();
}

// for tests/test_web_demo.py (puppeteer): the page's own pipeline, callable from outside
const ready = main();
window.demo = {ready, classify, answer, tokenize, switchTo, showInfo: (f) => loadModel(f).then(showInfo),
               onAnswer, onClassify};
ready.catch(fail);
