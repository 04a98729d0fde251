// The app's text pipeline in JavaScript, equal to android_demo/host_replay/task_library_replay.py (and the
// Kotlin core): the training tokenizer's normalization, the Task Library's BertTokenizer (WordPiece), the
// BertQuestionAnswerer / BertNLClassifier pre- and post-processing, and a reader for the metadata zip the
// exporter appends to a .tflite (vocab.txt, labels.txt). No dependencies; runs in a browser or in Node.

// BertQuestionAnswerer's constants (bert_question_answerer.h); BertTokenizerOptions defaults
export const MAX_QUERY_LEN = 64;
export const MAX_SEQ_LEN = 384;
export const PREDICT_ANS_NUM = 5;
export const MAX_ANS_LEN = 32;
export const OUTPUT_OFFSET = 1;
const MAX_BYTES_PER_TOKEN = 100;
const MAX_CHARS_PER_SUBTOKEN = 100;
const CLS = '[CLS]', SEP = '[SEP]', UNK = '[UNK]';
const WHITESPACE = '\t\n\f\r ';  // RE2's \s
const CJK_RANGES = [[0x4E00, 0x9FFF], [0x3400, 0x4DBF], [0x20000, 0x2A6DF], [0x2A700, 0x2B73F], [0x2B740, 0x2B81F],
                    [0x2B820, 0x2CEAF], [0xF900, 0xFAFF], [0x2F800, 0x2FA1F]];
const SEPARATOR = /\p{Z}/u, OTHER = /\p{C}/u, MARK = /\p{Mn}/u, PUNCT = /\p{P}/u;
const utf8 = new TextEncoder();

/**
 * The training tokenizer's normalization (mobilebert_tf.tokenization.tf_normalize, BERT uncased), one
 * character at a time: tab/LF/CR and separators (Z*) -> space; other C* characters and U+FFFD dropped;
 * NFD, combining marks (Mn) dropped, lower-cased per code point (a final Σ is σ, as in BERT).
 * Returns {text, source}: source[i] is the UTF-16 index in the original of normalized unit i.
 * Example: normalizeText('Café').text === 'cafe'
 */
export function normalizeText(text) {
  let out = '';
  const source = [];
  let i = 0;
  for (const c of text) {
    let piece;
    if (c === '\t' || c === '\n' || c === '\r' || SEPARATOR.test(c)) {
      piece = ' ';
    } else if (OTHER.test(c) || c === '\uFFFD') {
      piece = '';
    } else {
      piece = '';
      for (const d of c.normalize('NFD')) if (!MARK.test(d)) piece += d.toLowerCase();
    }
    out += piece;
    for (let k = 0; k < piece.length; k++) source.push(i);
    i += c.length;
  }
  return {text: out, source};
}

/** The original text's [start, end) behind the normalized [start, end). */
export function originalSpan(text, source, start, end) {
  const last = source[end - 1];
  return [source[start], last + String.fromCodePoint(text.codePointAt(last)).length];
}

export function asciiLower(text) {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function isKeptDelimiter(c) {
  const cp = c.codePointAt(0);
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  if (PUNCT.test(c)) return true;
  return CJK_RANGES.some(([lo, hi]) => cp >= lo && cp <= hi);
}

/** The Task Library's BertTokenizer: split on RE2 \s keeping punctuation/CJK, then greedy WordPiece. */
export class WordpieceTokenizer {
  constructor(vocab) {
    this.vocab = vocab;
    this.ids = new Map();
    vocab.forEach((token, i) => { if (!this.ids.has(token)) this.ids.set(token, i); });
  }

  static fromText(text) {
    const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
    if (lines.length && lines[lines.length - 1] === '') lines.pop();
    return new WordpieceTokenizer(lines);
  }

  lookupId(token) { return this.ids.get(token); }

  splitWords(text) {
    const words = [];
    let current = '';
    for (const c of text) {
      if (WHITESPACE.includes(c)) {
        if (current) { words.push(current); current = ''; }
      } else if (isKeptDelimiter(c)) {
        if (current) { words.push(current); current = ''; }
        words.push(c);
      } else {
        current += c;
      }
    }
    if (current) words.push(current);
    return words;
  }

  wordpiece(word) {
    if (utf8.encode(word).length > MAX_BYTES_PER_TOKEN) return [UNK];
    const chars = Array.from(word);
    const pieces = [];
    let start = 0;
    while (start < chars.length) {
      let end = Math.min(chars.length, start + MAX_CHARS_PER_SUBTOKEN);
      let found = null;
      while (end > start) {
        const sub = chars.slice(start, end).join('');
        const candidate = start === 0 ? sub : '##' + sub;
        if (this.ids.has(candidate)) { found = candidate; break; }
        end -= 1;
      }
      if (found === null) return [UNK];
      pieces.push(found);
      start = end;
    }
    return pieces;
  }

  tokenize(text) {
    return this.splitWords(text).flatMap((w) => this.wordpiece(w));
  }
}

/** The ids the phone (and this page) feeds a model for ``text``: normalization, then the tokenizer. */
export function phoneIds(tokenizer, text) {
  return tokenizer.tokenize(asciiLower(normalizeText(text).text)).map((t) => tokenizer.lookupId(t) ?? 0);
}

export function splitContext(context) {
  return context.split(' ').filter((t) => t);
}

export function wordCharSpans(context) {
  const spans = [];
  let start = -1;
  for (let i = 0; i < context.length; i++) {
    if (context[i] === ' ') {
      if (start >= 0) { spans.push([start, i]); start = -1; }
    } else if (start < 0) {
      start = i;
    }
  }
  if (start >= 0) spans.push([start, context.length]);
  return spans;
}

/** BertQuestionAnswerer::Preprocess. */
export function qaPreprocess(tokenizer, context, query, maxSeqLen = MAX_SEQ_LEN, maxQueryLen = MAX_QUERY_LEN) {
  const origTokens = splitContext(context);
  const queryTokens = tokenizer.tokenize(asciiLower(query)).slice(0, maxQueryLen);
  let allDocTokens = [];
  const tokenToOrigIndex = [];
  origTokens.forEach((token, i) => {
    for (const sub of tokenizer.tokenize(asciiLower(token))) {
      tokenToOrigIndex.push(i);
      allDocTokens.push(sub);
    }
  });
  const maxContextLen = Math.max(0, maxSeqLen - queryTokens.length - 3);
  allDocTokens = allDocTokens.slice(0, maxContextLen);
  const tokens = [CLS, ...queryTokens, SEP];
  const segmentIds = tokens.map(() => 0);
  const tokenToOrigMap = new Map();
  allDocTokens.forEach((t, i) => {
    tokens.push(t);
    segmentIds.push(1);
    tokenToOrigMap.set(tokens.length, tokenToOrigIndex[i]);
  });
  tokens.push(SEP);
  segmentIds.push(1);
  const ids = new Int32Array(maxSeqLen), mask = new Int32Array(maxSeqLen), seg = new Int32Array(maxSeqLen);
  tokens.forEach((t, i) => { ids[i] = tokenizer.lookupId(t) ?? 0; mask[i] = 1; seg[i] = segmentIds[i]; });
  return {ids, mask, segmentIds: seg, tokens, tokenToOrigMap, origTokens};
}

/** task_utils ReverseSortIndices: stable sort by value, descending. */
function reverseSortIndices(values) {
  return Array.from(values.keys()).sort((a, b) => values[b] - values[a]);
}

/** BertQuestionAnswerer::Postprocess; answers carry the char span in ``context`` (the passage given). */
export function qaPostprocess(feature, startLogits, endLogits, context) {
  const starts = reverseSortIndices(startLogits), ends = reverseSortIndices(endLogits);
  const m = feature.tokenToOrigMap;
  const results = [];
  for (let si = 0; si < Math.min(PREDICT_ANS_NUM, starts.length); si++) {
    for (let ei = 0; ei < Math.min(PREDICT_ANS_NUM, ends.length); ei++) {
      const start = starts[si], end = ends[ei];
      if (!m.has(start + OUTPUT_OFFSET) || !m.has(end + OUTPUT_OFFSET) || end < start || end - start + 1 > MAX_ANS_LEN) {
        continue;
      }
      results.push({start, end, logit: Math.fround(startLogits[start] + endLogits[end])});
    }
  }
  results.sort((a, b) => b.logit - a.logit);
  const spans = wordCharSpans(context);
  return results.slice(0, PREDICT_ANS_NUM).map((r) => {
    const w0 = m.get(r.start + OUTPUT_OFFSET), w1 = m.get(r.end + OUTPUT_OFFSET);
    const text = r.start > 0 ? feature.origTokens.slice(w0, w1 + 1).join(' ') : '';
    return {...r, text, wordStart: w0, wordEnd: w1, charStart: spans[w0][0], charEnd: spans[w1][1]};
  });
}

/**
 * BertNLClassifier's preprocessing: [CLS] tokens [SEP] cut to maxSeqLen, zeros after, segment 0. With
 * ownLength (a dynamic-length model) the arrays are exactly as long as the tokens, not padded.
 */
export function classifierPreprocess(tokenizer, text, maxSeqLen, ownLength = false) {
  const subwords = tokenizer.tokenize(asciiLower(text));
  const n = Math.min(maxSeqLen, subwords.length + 2);
  const tokens = [CLS, ...subwords.slice(0, n - 2), SEP];
  const length = ownLength ? n : maxSeqLen;
  const ids = new Int32Array(length), mask = new Int32Array(length);
  tokens.forEach((t, i) => { ids[i] = tokenizer.lookupId(t) ?? 0; mask[i] = 1; });
  return {ids, mask, segmentIds: new Int32Array(length)};
}

/** The files of the zip archive appended to a .tflite (stored entries, as the exporter writes them). */
export function readMetadataZip(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error('no metadata zip in this model (exported with --no-metadata?)');
  const count = view.getUint16(eocd + 10, true);
  const cdSize = view.getUint32(eocd + 12, true), cdOffset = view.getUint32(eocd + 16, true);
  const shift = eocd - cdSize - cdOffset;  // archive appended after the model: offsets are relative to it
  const files = {};
  const decoder = new TextDecoder();
  let p = cdOffset + shift;
  for (let k = 0; k < count; k++) {
    if (view.getUint32(p, true) !== 0x02014b50) throw new Error('corrupt metadata zip (central directory)');
    const method = view.getUint16(p + 10, true);
    const size = view.getUint32(p + 20, true);
    const nameLen = view.getUint16(p + 28, true), extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const local = view.getUint32(p + 42, true) + shift;
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    if (method !== 0) throw new Error(`metadata file ${name} is compressed (method ${method}); expected stored`);
    const dataStart = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    files[name] = bytes.subarray(dataStart, dataStart + size);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return files;
}
