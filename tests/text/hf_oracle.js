// hf_oracle.js: the HuggingFace tokenizers oracle for the text tests (npm package `tokenizers`,
// the Rust implementation behind BertTokenizerFast). Two modes:
//   node hf_oracle.js encode VOCAB CORPUS OUT [MAX_LEN]
//       CORPUS holds one JSON string per line; OUT gets one line per input: the ids, a tab, the
//       attention mask (space-separated). The pipeline is BERT's: BertNormalizer (clean text,
//       CJK spacing, accent stripping, lowercase), BertPreTokenizer, WordPiece ([UNK], "##",
//       100 chars per word), [CLS] $A [SEP], truncation and padding to MAX_LEN (default 97).
//   node hf_oracle.js sweep OUT
//       For every Unicode scalar value c, normalizes and pre-tokenizes "a" + c + "b" and writes
//       "<hex cp>\t<piece>|<piece>..." with each piece as space-separated hex code points.
// The module is looked up in AFLOC_TOKENIZERS_DIR (a folder holding node_modules), else normally.
'use strict';
const fs = require('fs');
const path = require('path');

function loadTokenizers() {
  const dir = process.env.AFLOC_TOKENIZERS_DIR;
  if (dir) return require(path.join(dir, 'node_modules', 'tokenizers'));
  return require('tokenizers');
}

function buildTokenizer(tk, vocabText, maxLen) {
  const vocab = {};
  const lines = vocabText.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((line, i) => { vocab[line.replace(/\r$/, '')] = i; });
  const spec = {
    version: '1.0',
    truncation: { direction: 'Right', max_length: maxLen, strategy: 'LongestFirst', stride: 0 },
    padding: { strategy: { Fixed: maxLen }, direction: 'Right', pad_to_multiple_of: null,
               pad_id: vocab['[PAD]'], pad_type_id: 0, pad_token: '[PAD]' },
    added_tokens: [],
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true,
                  strip_accents: true, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'TemplateProcessing',
                      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } },
                               { Sequence: { id: 'A', type_id: 0 } },
                               { SpecialToken: { id: '[SEP]', type_id: 0 } }],
                      pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } },
                             { Sequence: { id: 'A', type_id: 0 } },
                             { SpecialToken: { id: '[SEP]', type_id: 0 } },
                             { Sequence: { id: 'B', type_id: 1 } },
                             { SpecialToken: { id: '[SEP]', type_id: 1 } }],
                      special_tokens: {
                        '[CLS]': { id: '[CLS]', ids: [vocab['[CLS]']], tokens: ['[CLS]'] },
                        '[SEP]': { id: '[SEP]', ids: [vocab['[SEP]']], tokens: ['[SEP]'] } } },
    decoder: null,
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##',
             max_input_chars_per_word: 100, vocab },
  };
  return tk.Tokenizer.fromString(JSON.stringify(spec));
}

async function encode(tk, vocabPath, corpusPath, outPath, maxLen) {
  const tokenizer = buildTokenizer(tk, fs.readFileSync(vocabPath, 'utf8'), maxLen);
  const texts = fs.readFileSync(corpusPath, 'utf8').split('\n').filter((l) => l.length)
    .map((l) => JSON.parse(l));
  const out = [];
  const batch = 512;
  for (let i = 0; i < texts.length; i += batch) {
    const encodings = await tokenizer.encodeBatch(texts.slice(i, i + batch));
    for (const e of encodings) out.push(e.getIds().join(' ') + '\t' + e.getAttentionMask().join(' '));
  }
  fs.writeFileSync(outPath, out.join('\n') + '\n');
}

function sweep(tk, outPath) {
  const normalizer = tk.bertNormalizer({ cleanText: true, handleChineseChars: true,
                                         stripAccents: true, lowercase: true });
  const pre = tk.bertPreTokenizer();
  const hex = (s) => Array.from(s).map((c) => c.codePointAt(0).toString(16)).join(' ');
  const out = [];
  for (let cp = 0; cp < 0x110000; cp++) {
    if (cp >= 0xd800 && cp < 0xe000) continue;
    const normalized = normalizer.normalizeString('a' + String.fromCodePoint(cp) + 'b');
    const pieces = pre.preTokenizeString(normalized).map((p) => hex(p[0]));
    out.push(cp.toString(16) + '\t' + pieces.join('|'));
  }
  fs.writeFileSync(outPath, out.join('\n') + '\n');
}

async function main() {
  const [mode, ...args] = process.argv.slice(2);
  const tk = loadTokenizers();
  if (mode === 'encode') await encode(tk, args[0], args[1], args[2], args[3] ? parseInt(args[3], 10) : 97);
  else if (mode === 'sweep') sweep(tk, args[0]);
  else throw new Error('usage: hf_oracle.js encode VOCAB CORPUS OUT [MAX_LEN] | sweep OUT');
}

main().catch((e) => { console.error(e); process.exit(1); });
