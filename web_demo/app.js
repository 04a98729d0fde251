// The demo page: the Android app's two screens on LiteRT.js (wasm CPU backend). Models and their manifest
// (models.json, the Android demo's format) are served under /models/ by `mobilebert web-demo --models DIR`.
import {loadAndCompile, loadLiteRt, Tensor} from '@litertjs/core';
import {classifierPreprocess, normalizeText, originalSpan, phoneIds, qaPostprocess, qaPreprocess, readMetadataZip,
        WordpieceTokenizer} from './bert.js';

const $ = (id) => document.getElementById(id);
const loaded = new Map();  // file -> {compiled, tokenizer, labels, entry}
const classifiers = new Map();  // classifier file picked -> {model (what runs), ownLength, note}
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
  const response = await fetch(`/models/${file}`);
  if (!response.ok) throw new Error(`${file}: HTTP ${response.status} ${response.statusText}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
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

/**
 * The model that runs for classifier ``file``: a dynamic-length model (manifest "dynamic") is loaded and
 * tried on a 3-token input at its own length; if it is missing, does not compile, or cannot run at that
 * length (LiteRT.js 2.5.3 has no input resize: a [1, -1] model fails to run), its fixed fallback runs and
 * ``note`` says why. {model, ownLength, note}.
 */
async function loadClassifier(file) {
  if (classifiers.has(file)) return classifiers.get(file);
  const entry = manifest.models.find((m) => m.file === file);
  if (!entry) throw new Error(`${file} is not in models.json`);
  let choice;
  if (entry.dynamic) {
    try {
      const model = await loadModel(file);
      const probe = classifierPreprocess(model.tokenizer, 'ok', entry.seq_len, true);
      await run(model, {ids: probe.ids, mask: probe.mask, segment_ids: probe.segmentIds});
      choice = {model, ownLength: true, note: null};
    } catch (e) {
      const fallback = await loadModel(entry.dynamic.fallback);
      const reason = String(e.message || e).split('\n')[0].slice(0, 160);
      choice = {model: fallback, ownLength: false,
                note: `own-length model ${file} cannot run here (${reason}); running the fixed-length ` +
                      `${fallback.entry.file} (seq ${fallback.entry.seq_len}) instead`};
    }
  } else {
    choice = {model: await loadModel(file), ownLength: false, note: null};
  }
  classifiers.set(file, choice);
  return choice;
}

/** Classify ``text`` with classifier ``file``: {labels, probs, ids, ms, runs (the file that ran), ownLength, note}. */
async function classify(file, text) {
  const {model, ownLength, note} = await loadClassifier(file);
  const norm = normalizeText(text).text;  // as training: accents dropped, lower-cased
  const input = classifierPreprocess(model.tokenizer, norm, model.entry.seq_len, ownLength);
  const {arrays, ms} = await run(model, {ids: input.ids, mask: input.mask, segment_ids: input.segmentIds});
  return {labels: model.labels, probs: Array.from(arrays.probability), ids: Array.from(input.ids), ms,
          runs: model.entry.file, ownLength, note};
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

function showInfo(model, note = null) {
  const e = model.entry;
  const length = e.dynamic ? `each text's own length (at most ${e.seq_len})` : e.seq_len;
  const rows = [['name', e.file], ['description', e.description || ''], ['task', e.task],
                ['quantization', e.quantization], ['size', `${(model.size / 1e6).toFixed(2)} MB`],
                ['sequence length', length], ['runtime', 'LiteRT.js 2.5.3, wasm (CPU)']];
  $('model-info').innerHTML = rows.map(([k, v]) => `<dt>${k}</dt><dd>${escapeHtml(String(v))}</dd>`).join('');
  $('model-note').textContent = note || '';
  $('model-note').hidden = !note;
}

/** The model info of ``file``; for a classifier, of the model that runs (a fallback, with its note). */
function showModel(file) {
  if (screen === 'qa') return loadModel(file).then((m) => showInfo(m));
  return loadClassifier(file).then((c) => showInfo(c.model, c.note));
}

function escapeHtml(s) {
  return s.replace(/[&<>"]/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]));
}

function fillModels() {
  const task = screen === 'qa' ? 'qa' : 'classifier';
  // a dynamic model's fixed fallback is not offered apart: the page runs it when the dynamic one cannot
  const models = manifest.models.filter((m) => m.task === task && !m.fallback_for);
  $('model').innerHTML = models.map((m) => `<option value="${m.file}">${m.file} (${m.quantization}` +
    `${m.dynamic ? ', own length' : ''})</option>`).join('');
  if (models.length) showModel(models[0].file).catch(fail);
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
  $('classifier-latency').textContent = `inference ${result.ms.toFixed(1)} ms (${result.runs}, ` +
    `${result.ownLength ? `${result.ids.length} tokens` : `padded to ${result.ids.length}`})`;
  $('model-note').textContent = result.note || '';
  $('model-note').hidden = !result.note;
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
  $('model').onchange = () => showModel($('model').value).catch(fail);
  $('run-qa').onclick = () => onAnswer().catch(fail);
  $('run-classifier').onclick = () => onClassify().catch(fail);
  fillModels();
}

// for tests/test_web_demo.py (puppeteer): the page's own pipeline, callable from outside
const ready = main();
window.demo = {ready, classify, answer, tokenize, switchTo, showInfo: showModel, onAnswer, onClassify};
ready.catch(fail);
