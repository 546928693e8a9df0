// A 7B-shaped Hugging Face folder for the benchmark: config.json, a SentencePiece tokenizer.model of
// 32000 pieces, and BF16 weights in two safetensors shards with an index, written once in chunks.
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

function varint(n) {
  const out = [];
  do {
    out.push((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return out;
}

function tokenizerModel(n) {
  const parts = [];
  for (let i = 0; i < n; i++) {
    const [text, type] = i === 0 ? ['<unk>', 2] : i === 1 ? ['<s>', 3] : i === 2 ? ['</s>', 3] : [`\u2581p${i}`, 1];
    const t = Buffer.from(text);
    const score = Buffer.alloc(4);
    score.writeFloatLE(-i);
    const body = Buffer.concat([Buffer.from([0x0a, ...varint(t.length)]), t, Buffer.from([0x15]), score, Buffer.from([0x18, ...varint(type)])]);
    parts.push(Buffer.from([0x0a, ...varint(body.length)]), body);
  }
  return Buffer.concat(parts);
}

/** Writes one shard: header (padded to 8 bytes) then each tensor's BF16 values, generated in chunks. */
function writeShard(path, tensors, seed) {
  const header = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 2;
    header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const fd = openSync(path, 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  writeSync(fd, len);
  writeSync(fd, Buffer.from(text));
  const chunk = new Uint16Array(1 << 22);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  let s = seed >>> 0;
  for (const t of tensors) {
    let left = t.shape.reduce((a, b) => a * b, 1);
    const norm = t.shape.length === 1;
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      for (let i = 0; i < n; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        f[0] = norm ? 1 + (s / 2 ** 32 - 0.5) / 8 : (s / 2 ** 32 - 0.5) / 16;
        chunk[i] = u[0] >>> 16;
      }
      writeSync(fd, chunk, 0, n * 2);
      left -= n;
    }
  }
  closeSync(fd);
}

export function writeBenchFolder(dir, { layers, embd = 4096, ff = 11008, heads = 32, kvHeads = 8, vocab = 32000 }) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: embd, intermediate_size: ff, num_attention_heads: heads,
    num_key_value_heads: kvHeads, num_hidden_layers: layers, vocab_size: vocab, max_position_embeddings: 4096, rms_norm_eps: 1e-5,
    rope_theta: 10000.0, head_dim: embd / heads, tie_word_embeddings: false, torch_dtype: 'bfloat16', bos_token_id: 1, eos_token_id: 2,
  }, null, 2));
  writeFileSync(join(dir, 'tokenizer.model'), tokenizerModel(vocab));
  const kvDim = (embd / heads) * kvHeads;
  const all = [
    { name: 'model.embed_tokens.weight', shape: [vocab, embd] },
    ...Array.from({ length: layers }, (_, l) => [
      { name: `model.layers.${l}.input_layernorm.weight`, shape: [embd] },
      { name: `model.layers.${l}.self_attn.q_proj.weight`, shape: [embd, embd] },
      { name: `model.layers.${l}.self_attn.k_proj.weight`, shape: [kvDim, embd] },
      { name: `model.layers.${l}.self_attn.v_proj.weight`, shape: [kvDim, embd] },
      { name: `model.layers.${l}.self_attn.o_proj.weight`, shape: [embd, embd] },
      { name: `model.layers.${l}.post_attention_layernorm.weight`, shape: [embd] },
      { name: `model.layers.${l}.mlp.gate_proj.weight`, shape: [ff, embd] },
      { name: `model.layers.${l}.mlp.up_proj.weight`, shape: [ff, embd] },
      { name: `model.layers.${l}.mlp.down_proj.weight`, shape: [embd, ff] },
    ]).flat(),
    { name: 'model.norm.weight', shape: [embd] },
    { name: 'lm_head.weight', shape: [vocab, embd] },
  ];
  const half = Math.ceil(all.length / 2);
  const shards = [all.slice(0, half), all.slice(half)];
  const weightMap = {};
  shards.forEach((tensors, i) => {
    const name = `model-0000${i + 1}-of-00002.safetensors`;
    writeShard(join(dir, name), tensors, 1234 + i);
    for (const t of tensors) weightMap[t.name] = name;
  });
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2));
}
