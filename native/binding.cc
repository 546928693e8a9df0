// The Node-API surface: a few coarse calls over the C kernels. Every length and type received from
// JavaScript is checked here before a kernel sees a pointer. Long work runs on worker threads.
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "kernels.h"

#ifndef _WIN32
#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <climits>
// Jobs can read their rows from a file descriptor (pread). Not on Windows, where Node's descriptors belong to
// another C runtime than the addon's.
#define QN_FILE_SOURCE 1
#endif

namespace {

#ifdef QN_FILE_SOURCE
// Asks the kernel to start reading bytes [offset, offset + length) of fd into the page cache; a hint only.
void AdviseWillNeed(int fd, int64_t offset, int64_t length) {
#if defined(__APPLE__)
  struct radvisory ra;
  ra.ra_offset = static_cast<off_t>(offset);
  ra.ra_count = static_cast<int>(std::min<int64_t>(length, INT_MAX));
  fcntl(fd, F_RDADVISE, &ra);
#elif defined(POSIX_FADV_WILLNEED)
  posix_fadvise(fd, static_cast<off_t>(offset), static_cast<off_t>(length), POSIX_FADV_WILLNEED);
#else
  (void)fd, (void)offset, (void)length;
#endif
}
#endif

constexpr int64_t kMaxThreads = 256;
// Rows converted to F32 at a time per thread: bounds scratch memory and the cancel latency.
constexpr int64_t kScratchElements = 1 << 16;

struct Bytes {
  uint8_t *data = nullptr;
  size_t length = 0;
};

Bytes GetBytes(const Napi::Env &env, const Napi::Value &v, const char *what) {
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    auto ab = ta.ArrayBuffer();
    return {static_cast<uint8_t *>(ab.Data()) + ta.ByteOffset(), ta.ByteLength()};
  }
  if (v.IsDataView()) {
    auto dv = v.As<Napi::DataView>();
    return {static_cast<uint8_t *>(dv.ArrayBuffer().Data()) + dv.ByteOffset(), dv.ByteLength()};
  }
  if (v.IsArrayBuffer()) {
    auto ab = v.As<Napi::ArrayBuffer>();
    return {static_cast<uint8_t *>(ab.Data()), ab.ByteLength()};
  }
  throw Napi::TypeError::New(env, std::string(what) + " must be a Buffer, TypedArray or ArrayBuffer");
}

int64_t GetInt(const Napi::Env &env, const Napi::Object &o, const char *key, int64_t min, int64_t max) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(key) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max)) || d != static_cast<double>(static_cast<int64_t>(d))) {
    throw Napi::RangeError::New(env, std::string(key) + " must be an integer in [" + std::to_string(min) + ", " +
                                         std::to_string(max) + "]");
  }
  return static_cast<int64_t>(d);
}

size_t CheckedRowBytes(const Napi::Env &env, int type, int64_t n_per_row, int64_t nrows, const char *what) {
  const qn_type_traits *t = qn_type_info(type);
  if (!t) throw Napi::RangeError::New(env, std::string(what) + " type " + std::to_string(type) + " is not supported");
  const size_t row = qn_row_size(type, n_per_row);
  if (row == 0) {
    throw Napi::RangeError::New(env, std::string("row length ") + std::to_string(n_per_row) + " is not a multiple of " +
                                         t->name + "'s block size " + std::to_string(t->block_size));
  }
  if (nrows > 0 && row > SIZE_MAX / static_cast<size_t>(nrows)) throw Napi::RangeError::New(env, "size overflows");
  return row * static_cast<size_t>(nrows);
}

// One quantization job, fully validated: convert src rows to F32 (if needed), quantize, and
// check both sides for the NaN/Inf conditions llama.cpp rejects.
struct QuantizeJob {
  int src_type = QN_F32;
  int dst_type = QN_F32;
  int64_t nrows = 0;
  int64_t n_per_row = 0;
  const uint8_t *src = nullptr;
  // Instead of src: the rows are read from this file descriptor, row 0 at src_offset, by each thread
  // into its own buffer just before it converts them.
  int src_fd = -1;
  int64_t src_offset = 0;
  // Bytes of src_fd the next job will read: asked of the kernel now (posix_fadvise WILLNEED), so that a file
  // not in the page cache is read from the disk while this job computes, as the separate reads of a chunk
  // ahead did.
  int64_t prefetch_offset = 0;
  int64_t prefetch_length = 0;
  uint8_t *dst = nullptr;
  const float *imatrix = nullptr;  // n_per_row floats per matrix
  int64_t imatrix_count = 0;       // number of matrices the imatrix covers
  int64_t first_row = 0;           // global index of row 0, to find its matrix
  int64_t rows_per_matrix = 0;
  qn_quantize_fn quantize = nullptr;
  qn_dequantize_fn to_f32 = nullptr;
  qn_find_invalid_fn check_input = nullptr;  // the path's row check, or null for the generic one
  bool validate = true;  // false: the kernel alone (the kernel benchmark)
  // When set, each row's round-trip error goes to row_errors[row] (target-size planning); the
  // weights, n_per_row per matrix like the imatrix, may be null.
  double *row_errors = nullptr;
  const float *error_weights = nullptr;
  int64_t error_weights_count = 0;
  qn_dequantize_fn from_dst = nullptr;
  const int32_t *cancel = nullptr;
  int threads = 1;

  // Results: first invalid row (global index) in the input / output, or -1.
  std::atomic<int64_t> bad_input{-1};
  std::atomic<int64_t> bad_output{-1};
  std::atomic<bool> cancelled{false};
  // errno of the first failed read (-1: the file ended), 0 when none failed.
  std::atomic<int> read_error{0};
  std::atomic<int64_t> next_row{0};

  static void KeepFirst(std::atomic<int64_t> &slot, int64_t row) {
    int64_t cur = slot.load();
    while ((cur < 0 || row < cur) && !slot.compare_exchange_weak(cur, row)) {
    }
  }

  bool Cancelled() const {
    return cancel && reinterpret_cast<const std::atomic<int32_t> *>(cancel)->load(std::memory_order_relaxed) != 0;
  }

  const float *MatrixWeights(int64_t row) const {
    if (!imatrix) return nullptr;
    const int64_t m = rows_per_matrix > 0 ? (first_row + row) / rows_per_matrix : 0;
    return imatrix + (imatrix_count > 1 ? m : 0) * n_per_row;
  }

  const float *ErrorWeights(int64_t row) const {
    if (!error_weights) return nullptr;
    const int64_t m = rows_per_matrix > 0 ? (first_row + row) / rows_per_matrix : 0;
    return error_weights + (error_weights_count > 1 ? m : 0) * n_per_row;
  }

  void MeasureRows(const float *x, const uint8_t *q, int64_t r, int64_t n, std::vector<float> &back) const {
    back.resize(static_cast<size_t>(n_per_row));
    const size_t dst_row = qn_row_size(dst_type, n_per_row);
    for (int64_t i = 0; i < n; ++i) {
      from_dst(q + static_cast<size_t>(i) * dst_row, back.data(), n_per_row);
      row_errors[r + i] = qn_row_sq_error(x + i * n_per_row, back.data(), ErrorWeights(r + i), n_per_row);
    }
  }

  int64_t BlockRows() const { return std::max<int64_t>(1, kScratchElements / n_per_row); }

  void Prefetch() const {
#ifdef QN_FILE_SOURCE
    if (src_fd < 0) return;
    // This job's own rows first: the first job of a file has no job before it to ask for them.
    AdviseWillNeed(src_fd, src_offset, nrows * static_cast<int64_t>(qn_row_size(src_type, n_per_row)));
    if (prefetch_length > 0) AdviseWillNeed(src_fd, prefetch_offset, prefetch_length);
#endif
  }

  // Rows [r, r + n) from the file into buf; false (and the error kept) if the read fails or the file ends.
  bool ReadRows(int64_t r, int64_t n, size_t src_row, std::vector<uint8_t> &buf) {
    const size_t bytes = static_cast<size_t>(n) * src_row;
    buf.resize(std::max(buf.size(), bytes));
#ifdef QN_FILE_SOURCE
    const int64_t at = src_offset + r * static_cast<int64_t>(src_row);
    for (size_t done = 0; done < bytes;) {
      const ssize_t got = pread(src_fd, buf.data() + done, bytes - done, static_cast<off_t>(at + static_cast<int64_t>(done)));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        int expected = 0;
        read_error.compare_exchange_strong(expected, got < 0 ? errno : -1);
        return false;
      }
      done += static_cast<size_t>(got);
    }
    return true;
#else
    (void)r;
    return false;  // unreachable: src_fd is never set here
#endif
  }

  // Rows [r0, r1), at most BlockRows() of them; false once the job must stop (cancelled, invalid data).
  bool RunRows(int64_t r0, int64_t r1, std::vector<float> &scratch, std::vector<float> &back, std::vector<uint8_t> &inbuf) {
    const size_t src_row = qn_row_size(src_type, n_per_row);
    const size_t dst_row = qn_row_size(dst_type, n_per_row);
    if (src_type != QN_F32) scratch.resize(static_cast<size_t>((r1 - r0) * n_per_row));
    for (int64_t r = r0; r < r1;) {
      if (Cancelled()) {
        cancelled = true;
        return false;
      }
      int64_t n = r1 - r;
      // Rows of one call share one importance vector: never cross a matrix (expert) boundary.
      if (imatrix && rows_per_matrix > 0) {
        const int64_t g = first_row + r;
        n = std::min(n, rows_per_matrix - g % rows_per_matrix);
      }
      const uint8_t *in = src + static_cast<size_t>(r) * src_row;
      if (src_fd >= 0) {
        if (!ReadRows(r, n, src_row, inbuf)) return false;
        in = inbuf.data();
      }
      const int64_t bad_in = !validate ? -1 : check_input ? check_input(in, n, n_per_row) : qn_find_invalid_row(src_type, in, n, n_per_row);
      if (bad_in >= 0) {
        KeepFirst(bad_input, first_row + r + bad_in);
        return false;
      }
      const float *f32 = reinterpret_cast<const float *>(in);
      if (src_type != QN_F32) {
        to_f32(in, scratch.data(), n * n_per_row);
        f32 = scratch.data();
      }
      uint8_t *out = dst + static_cast<size_t>(r) * dst_row;
      quantize(f32, out, n, n_per_row, MatrixWeights(r));
      const int64_t bad_out = validate ? qn_find_invalid_row(dst_type, out, n, n_per_row) : -1;
      if (bad_out >= 0) {
        KeepFirst(bad_output, first_row + r + bad_out);
        return false;
      }
      if (row_errors) MeasureRows(f32, out, r, n, back);
      r += n;
    }
    return true;
  }

  // Threads take blocks of rows as they become free rather than a fixed share: the JS thread's reads
  // and writes share the cores, and a thread the OS pauses for them would otherwise leave the others
  // waiting at the end of every chunk. Blocks are claimed in row order, so every row before an invalid
  // one is still checked and the first invalid row is the one reported.
  void Worker() {
    std::vector<float> scratch, back;
    std::vector<uint8_t> inbuf;
    const int64_t block = BlockRows();
    for (;;) {
      const int64_t r0 = next_row.fetch_add(block);
      if (r0 >= nrows || !RunRows(r0, std::min(nrows, r0 + block), scratch, back, inbuf)) return;
    }
  }

  // False when the type's lattice grids could not be built (out of memory). Runs on the calling
  // thread: the first use of a grid takes tens of milliseconds, which the async path keeps off the
  // JS thread.
  bool Prepare() { return qn_quantize_prepare(dst_type); }

  void Run() {
    const int64_t blocks = (nrows + BlockRows() - 1) / BlockRows();
    const int t = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, blocks)));
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(t - 1));
    for (int i = 1; i < t; ++i) pool.emplace_back([this] { Worker(); });
    Prefetch();
    Worker();
    for (auto &th : pool) th.join();
  }
};

// Weights laid out n_per_row per matrix (expert), as the imatrix and the error weights are: absent, or
// checked to cover every row of the job.
struct MatrixWeights {
  const float *data = nullptr;
  int64_t count = 0;
};

MatrixWeights GetMatrixWeights(const Napi::Env &env, const Napi::Value &v, const std::string &name, const QuantizeJob &job) {
  if (v.IsUndefined() || v.IsNull()) return {};
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(env, name + " must be a Float32Array");
  }
  auto fa = v.As<Napi::Float32Array>();
  const size_t len = fa.ElementLength();
  if (len == 0 || len % static_cast<size_t>(job.n_per_row) != 0) {
    throw Napi::RangeError::New(env, name + " length " + std::to_string(len) + " is not a multiple of the row length " +
                                         std::to_string(job.n_per_row));
  }
  const int64_t count = static_cast<int64_t>(len / static_cast<size_t>(job.n_per_row));
  if (count > 1) {
    if (job.rows_per_matrix == 0) throw Napi::RangeError::New(env, "rowsPerMatrix is required with several matrices");
    const int64_t last = (job.first_row + job.nrows - 1) / job.rows_per_matrix;
    if (job.nrows > 0 && last >= count) {
      throw Napi::RangeError::New(env, name + " covers " + std::to_string(count) + " matrices, row " +
                                           std::to_string(job.first_row + job.nrows - 1) + " needs matrix " + std::to_string(last));
    }
  }
  return {fa.Data(), count};
}

// Parses and checks the options object shared by the sync and async quantize calls.
void ParseQuantize(const Napi::Env &env, const Napi::Object &o, QuantizeJob &job, Bytes &src, Bytes &dst) {
  job.src_type = static_cast<int>(GetInt(env, o, "srcType", 0, QN_TYPE_COUNT - 1));
  job.dst_type = static_cast<int>(GetInt(env, o, "dstType", 0, QN_TYPE_COUNT - 1));
  job.nrows = GetInt(env, o, "nrows", 0, INT64_C(1) << 40);
  job.n_per_row = GetInt(env, o, "nPerRow", 1, INT64_C(1) << 32);
  const int simd = static_cast<int>(GetInt(env, o, "simd", 0, QN_SIMD_COUNT - 1));
  if (!qn_simd_available(simd)) {
    throw Napi::Error::New(env, std::string("SIMD path ") + qn_simd_name(simd) + " is not available on this CPU");
  }
  job.threads = o.Has("threads") ? static_cast<int>(GetInt(env, o, "threads", 1, kMaxThreads)) : 1;

  if (o.Has("validate")) {
    Napi::Value v = o.Get("validate");
    if (!v.IsBoolean()) throw Napi::TypeError::New(env, "validate must be a boolean");
    job.validate = v.As<Napi::Boolean>().Value();
  }
  job.to_f32 = qn_get_dequantize(simd, job.src_type);
  job.check_input = qn_get_find_invalid(simd, job.src_type);
  if (!job.to_f32) throw Napi::RangeError::New(env, "cannot read source type " + std::to_string(job.src_type));
  job.quantize = qn_get_quantize(simd, job.dst_type);
  if (!job.quantize) throw Napi::RangeError::New(env, "cannot produce type " + std::to_string(job.dst_type));

  const size_t need_src = CheckedRowBytes(env, job.src_type, job.n_per_row, job.nrows, "source");
  const size_t need_dst = CheckedRowBytes(env, job.dst_type, job.n_per_row, job.nrows, "destination");
  if (!o.Get("srcFd").IsUndefined()) {
#ifndef QN_FILE_SOURCE
    throw Napi::Error::New(env, "srcFd is not supported on this platform (info.fileSource is false)");
#endif
    if (!o.Get("src").IsUndefined()) throw Napi::TypeError::New(env, "give src or srcFd, not both");
    job.src_fd = static_cast<int>(GetInt(env, o, "srcFd", 0, INT32_MAX));
    job.src_offset = GetInt(env, o, "srcOffset", 0, INT64_C(1) << 52);
    if (static_cast<uint64_t>(job.src_offset) + need_src > (UINT64_C(1) << 53)) throw Napi::RangeError::New(env, "srcOffset + the rows' bytes overflow");
    if (!o.Get("prefetchOffset").IsUndefined()) {
      job.prefetch_offset = GetInt(env, o, "prefetchOffset", 0, INT64_C(1) << 52);
      job.prefetch_length = GetInt(env, o, "prefetchLength", 0, INT64_C(1) << 52);
    }
  } else {
    src = GetBytes(env, o.Get("src"), "src");
  }
  dst = GetBytes(env, o.Get("dst"), "dst");
  if (job.src_fd < 0 && src.length < need_src) {
    throw Napi::RangeError::New(env, "src holds " + std::to_string(src.length) + " bytes, " + std::to_string(need_src) + " needed");
  }
  if (dst.length < need_dst) {
    throw Napi::RangeError::New(env, "dst holds " + std::to_string(dst.length) + " bytes, " + std::to_string(need_dst) + " needed");
  }
  job.src = src.data;
  job.dst = dst.data;

  job.first_row = o.Has("firstRow") ? GetInt(env, o, "firstRow", 0, INT64_C(1) << 40) : 0;
  job.rows_per_matrix = o.Has("rowsPerMatrix") ? GetInt(env, o, "rowsPerMatrix", 1, INT64_C(1) << 40) : 0;
  const MatrixWeights im = GetMatrixWeights(env, o.Get("imatrix"), "imatrix", job);
  job.imatrix = im.data;
  job.imatrix_count = im.count;
  if (!job.imatrix && qn_quantize_requires_imatrix(job.dst_type)) {
    throw Napi::Error::New(env, std::string(qn_type_info(job.dst_type)->name) +
                                    " needs importance weights (imatrix): llama.cpp defines no rule without them");
  }

  Napi::Value re = o.Get("rowErrors");
  if (!re.IsUndefined() && !re.IsNull()) {
    if (!re.IsTypedArray() || re.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        re.As<Napi::TypedArray>().ElementLength() < static_cast<size_t>(job.nrows)) {
      throw Napi::TypeError::New(env, "rowErrors must be a Float64Array of at least nrows elements");
    }
    job.row_errors = re.As<Napi::Float64Array>().Data();
    job.from_dst = qn_get_dequantize(QN_SIMD_SCALAR, job.dst_type);
    if (!job.from_dst) throw Napi::RangeError::New(env, "cannot dequantize type " + std::to_string(job.dst_type));
    const MatrixWeights ew = GetMatrixWeights(env, o.Get("errorWeights"), "errorWeights", job);
    job.error_weights = ew.data;
    job.error_weights_count = ew.count;
  }

  Napi::Value c = o.Get("cancel");
  if (!c.IsUndefined() && !c.IsNull()) {
    if (!c.IsTypedArray() || c.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
        c.As<Napi::TypedArray>().ElementLength() < 1) {
      throw Napi::TypeError::New(env, "cancel must be an Int32Array of length >= 1");
    }
    job.cancel = c.As<Napi::Int32Array>().Data();
  }
}

Napi::Object JobResult(const Napi::Env &env, const QuantizeJob &job) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("invalidInputRow", Napi::Number::New(env, static_cast<double>(job.bad_input.load())));
  r.Set("invalidOutputRow", Napi::Number::New(env, static_cast<double>(job.bad_output.load())));
  r.Set("cancelled", Napi::Boolean::New(env, job.cancelled.load()));
  const int err = job.read_error.load();
  r.Set("readError", err == 0 ? env.Null() : err < 0 ? Napi::String::New(env, "EOF") : Napi::String::New(env, std::strerror(err)));
  return r;
}

Napi::Value QuantizeSync(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "quantizeSync expects an options object");
  QuantizeJob job;
  Bytes src, dst;
  ParseQuantize(env, info[0].As<Napi::Object>(), job, src, dst);
  if (!job.Prepare()) throw Napi::Error::New(env, "out of memory building the quantization grids");
  job.Run();
  return JobResult(env, job);
}

class QuantizeWorker : public Napi::AsyncWorker {
 public:
  QuantizeWorker(Napi::Env env, const Napi::Object &options)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {
    Bytes src, dst;
    ParseQuantize(env, options, job_, src, dst);
    // The buffers must outlive the work; hold the options object (and so its buffers).
    keep_ = Napi::Persistent(options);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    if (!job_.Prepare()) return SetError("out of memory building the quantization grids");
    job_.Run();
  }
  void OnOK() override { deferred_.Resolve(JobResult(Env(), job_)); }
  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference keep_;
  QuantizeJob job_;
};

Napi::Value QuantizeAsync(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "quantizeAsync expects an options object");
  auto *worker = new QuantizeWorker(env, info[0].As<Napi::Object>());
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

struct DequantizeJob {
  qn_dequantize_fn fn = nullptr;
  const uint8_t *src = nullptr;
  float *dst = nullptr;
  int64_t n = 0;
  void Run() const { fn(src, dst, n); }
};

static DequantizeJob ParseDequantize(Napi::Env env, const Napi::Object &o) {
  const int type = static_cast<int>(GetInt(env, o, "type", 0, QN_TYPE_COUNT - 1));
  const int64_t nrows = GetInt(env, o, "nrows", 0, INT64_C(1) << 40);
  const int64_t n_per_row = GetInt(env, o, "nPerRow", 1, INT64_C(1) << 32);
  DequantizeJob job;
  job.fn = qn_get_dequantize(QN_SIMD_SCALAR, type);
  if (!job.fn) throw Napi::RangeError::New(env, "cannot dequantize type " + std::to_string(type));
  Bytes src = GetBytes(env, o.Get("src"), "src");
  Bytes dst = GetBytes(env, o.Get("dst"), "dst");
  const size_t need_src = CheckedRowBytes(env, type, n_per_row, nrows, "source");
  const size_t need_dst = CheckedRowBytes(env, QN_F32, n_per_row, nrows, "destination");
  if (src.length < need_src || dst.length < need_dst) {
    throw Napi::RangeError::New(env, "dequantize needs " + std::to_string(need_src) + " source and " +
                                         std::to_string(need_dst) + " destination bytes");
  }
  job.src = src.data;
  job.dst = reinterpret_cast<float *>(dst.data);
  job.n = nrows * n_per_row;
  return job;
}

Napi::Value Dequantize(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "dequantize expects an options object");
  ParseDequantize(env, info[0].As<Napi::Object>()).Run();
  return env.Undefined();
}

class DequantizeWorker : public Napi::AsyncWorker {
 public:
  DequantizeWorker(Napi::Env env, const Napi::Object &options)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), job_(ParseDequantize(env, options)) {
    keep_ = Napi::Persistent(options);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override { job_.Run(); }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference keep_;
  DequantizeJob job_;
};

Napi::Value DequantizeAsync(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "dequantizeAsync expects an options object");
  auto *worker = new DequantizeWorker(env, info[0].As<Napi::Object>());
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

Napi::Value FindInvalidRow(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "findInvalidRow expects an options object");
  Napi::Object o = info[0].As<Napi::Object>();
  const int type = static_cast<int>(GetInt(env, o, "type", 0, QN_TYPE_COUNT - 1));
  const int64_t nrows = GetInt(env, o, "nrows", 0, INT64_C(1) << 40);
  const int64_t n_per_row = GetInt(env, o, "nPerRow", 1, INT64_C(1) << 32);
  Bytes data = GetBytes(env, o.Get("data"), "data");
  if (data.length < CheckedRowBytes(env, type, n_per_row, nrows, "data")) throw Napi::RangeError::New(env, "data is too short");
  return Napi::Number::New(env, static_cast<double>(qn_find_invalid_row(type, data.data, nrows, n_per_row)));
}

Napi::Value SimdParse(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "simd path name must be a string");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  return Napi::Number::New(env, qn_simd_parse(name.c_str()));
}

// Zeroed memory starting on an `alignment` boundary, which O_DIRECT writes need. V8 allocates it, so it
// is an ordinary ArrayBuffer where the V8 sandbox forbids external memory (Electron).
Napi::Value AlignedBuffer(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "alignedBuffer expects an options object");
  Napi::Object o = info[0].As<Napi::Object>();
  const int64_t bytes = GetInt(env, o, "bytes", 0, INT64_C(1) << 32);
  const int64_t alignment = GetInt(env, o, "alignment", 1, INT64_C(1) << 16);
  if ((alignment & (alignment - 1)) != 0) throw Napi::RangeError::New(env, "alignment must be a power of two");
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, static_cast<size_t>(bytes + alignment));
  const uintptr_t address = reinterpret_cast<uintptr_t>(ab.Data());
  const size_t offset = static_cast<size_t>((alignment - static_cast<int64_t>(address % alignment)) % alignment);
  return Napi::Uint8Array::New(env, static_cast<size_t>(bytes), ab, offset);
}

Napi::Object Info(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  Napi::Array paths = Napi::Array::New(env);
  uint32_t k = 0;
  for (int s = 0; s < QN_SIMD_COUNT; ++s) {
    if (qn_simd_available(s)) paths.Set(k++, Napi::String::New(env, qn_simd_name(s)));
  }
  o.Set("simdAvailable", paths);
  o.Set("simdBest", Napi::String::New(env, qn_simd_name(qn_simd_best())));
#ifdef QN_FILE_SOURCE
  o.Set("fileSource", Napi::Boolean::New(env, true));
#else
  o.Set("fileSource", Napi::Boolean::New(env, false));
#endif
  Napi::Array names = Napi::Array::New(env);
  for (int s = 0; s < QN_SIMD_COUNT; ++s) names.Set(static_cast<uint32_t>(s), Napi::String::New(env, qn_simd_name(s)));
  o.Set("simdNames", names);
  Napi::Object types = Napi::Object::New(env);
  for (int t = 0; t < QN_TYPE_COUNT; ++t) {
    const qn_type_traits *tr = qn_type_info(t);
    if (!tr) continue;
    Napi::Object e = Napi::Object::New(env);
    e.Set("name", Napi::String::New(env, tr->name));
    e.Set("blockSize", Napi::Number::New(env, tr->block_size));
    e.Set("typeSize", Napi::Number::New(env, tr->type_size));
    types.Set(std::to_string(t), e);
  }
  o.Set("types", types);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Info(env));
  exports.Set("quantizeSync", Napi::Function::New(env, QuantizeSync, "quantizeSync"));
  exports.Set("quantizeAsync", Napi::Function::New(env, QuantizeAsync, "quantizeAsync"));
  exports.Set("dequantize", Napi::Function::New(env, Dequantize, "dequantize"));
  exports.Set("dequantizeAsync", Napi::Function::New(env, DequantizeAsync, "dequantizeAsync"));
  exports.Set("findInvalidRow", Napi::Function::New(env, FindInvalidRow, "findInvalidRow"));
  exports.Set("simdParse", Napi::Function::New(env, SimdParse, "simdParse"));
  exports.Set("alignedBuffer", Napi::Function::New(env, AlignedBuffer, "alignedBuffer"));
  return exports;
}

}  // namespace

NODE_API_MODULE(quant_native, Init)
