/* Causal grouped-query attention for heads 8 floats wide, one thread, AVX2 + FMA.
 *
 * Built and loaded by capgym/models/kernels.py.  For llama2.c's smallest models
 * (stories260K: 8 heads of width 8) torch's CPU flash kernel spends most of its time
 * in matrix products of inner size 8; here a head is one 256-bit register and each
 * query's softmax runs over its own keys only.  Two passes per query: scores and their
 * maximum, then exp, sum and the weighted values.  A query's result depends only on its
 * own keys (the order of every sum is fixed by its position), never on the batch or
 * padding around it.
 */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>

#define D 8

int capgym_cpu_ok(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* expf to about 1 ulp (Cephes): x = n ln2 + r, a degree-6 polynomial in r, times 2^n;
 * 0 below the float range (a masked key's -inf gives 0). */
static inline __m256 exp256(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f);
  const __m256 lo = _mm256_set1_ps(-87.3365447505531f);
  __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.f)));
  __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(e, 23)));
  return _mm256_andnot_ps(under, y);
}

static inline float hmax(__m256 v) {
  __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  a = _mm_max_ps(a, _mm_movehl_ps(a, a));
  return _mm_cvtss_f32(_mm_max_ss(a, _mm_shuffle_ps(a, a, 1)));
}

static inline float hsum(__m256 v) {
  __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  a = _mm_add_ps(a, _mm_movehl_ps(a, a));
  return _mm_cvtss_f32(_mm_add_ss(a, _mm_shuffle_ps(a, a, 1)));
}

/* The eight sums of eight vectors: lane d of the result is the sum of v[d]'s lanes. */
static inline __m256 sum8(const __m256* v) {
  __m256 a = _mm256_hadd_ps(v[0], v[1]), b = _mm256_hadd_ps(v[2], v[3]);
  __m256 c = _mm256_hadd_ps(v[4], v[5]), d = _mm256_hadd_ps(v[6], v[7]);
  a = _mm256_hadd_ps(a, b);
  c = _mm256_hadd_ps(c, d); /* a: lanes 0-3 halves of v0..v3, c: of v4..v7 */
  __m256 lo = _mm256_permute2f128_ps(a, c, 0x20), hi = _mm256_permute2f128_ps(a, c, 0x31);
  return _mm256_add_ps(lo, hi);
}

/* One query: softmax(q . K[:n] * scale) @ V[:n] into o.  Kt and Vt [D][tp] (keys
 * scaled, both transposed: eight keys of one dimension per register), s a scratch row
 * of tp floats.  Pass 1: scores and their maximum; pass 2: exp, their sum, and the
 * weighted values, accumulated per dimension across keys. */
static void one_query(const float* q, const float* Kt, const float* Vt, float* s, int n,
                      int tp, float* o) {
  int nb = (n + 7) >> 3;
  __m256 q0 = _mm256_set1_ps(q[0]), q1 = _mm256_set1_ps(q[1]), q2 = _mm256_set1_ps(q[2]),
         q3 = _mm256_set1_ps(q[3]), q4 = _mm256_set1_ps(q[4]), q5 = _mm256_set1_ps(q[5]),
         q6 = _mm256_set1_ps(q[6]), q7 = _mm256_set1_ps(q[7]);
  __m256 mx = _mm256_set1_ps(-INFINITY);
  for (int b = 0; b < nb; b++) {
    const float* k = Kt + b * 8;
    __m256 a = _mm256_mul_ps(q0, _mm256_load_ps(k));
    __m256 c = _mm256_mul_ps(q4, _mm256_load_ps(k + 4 * tp));
    a = _mm256_fmadd_ps(q1, _mm256_load_ps(k + tp), a);
    c = _mm256_fmadd_ps(q5, _mm256_load_ps(k + 5 * tp), c);
    a = _mm256_fmadd_ps(q2, _mm256_load_ps(k + 2 * tp), a);
    c = _mm256_fmadd_ps(q6, _mm256_load_ps(k + 6 * tp), c);
    a = _mm256_fmadd_ps(q3, _mm256_load_ps(k + 3 * tp), a);
    c = _mm256_fmadd_ps(q7, _mm256_load_ps(k + 7 * tp), c);
    a = _mm256_add_ps(a, c);
    if (b == nb - 1 && (n & 7)) { /* keys past the query are masked */
      __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n & 7), lane));
      a = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), a, keep);
    }
    _mm256_store_ps(s + b * 8, a);
    mx = _mm256_max_ps(mx, a);
  }
  __m256 m = _mm256_set1_ps(hmax(mx)), sum = _mm256_setzero_ps();
  __m256 acc[D];
  for (int d = 0; d < D; d++) acc[d] = _mm256_setzero_ps();
  for (int b = 0; b < nb; b++) {
    __m256 p = exp256(_mm256_sub_ps(_mm256_load_ps(s + b * 8), m));
    sum = _mm256_add_ps(sum, p);
    const float* v = Vt + b * 8;
    for (int d = 0; d < D; d++) acc[d] = _mm256_fmadd_ps(p, _mm256_load_ps(v + d * tp), acc[d]);
  }
  _mm256_storeu_ps(o, _mm256_mul_ps(sum8(acc), _mm256_set1_ps(1.f / hsum(sum))));
}

static int attend(const float* q, const float* k, const float* v, float* out, int B, int T,
                  int H, int G, float scale);

/* q [B,T,H,8], k and v [B,T,G,8], out [B,T,H,8], float32, contiguous; query head h
 * reads key/value head h / (H / G).  Returns 0, or 1 when scratch memory is short. */
int capgym_causal_attention(const float* q, const float* k, const float* v, float* out,
                            int B, int T, int H, int G, float scale) {
  /* Subnormal floats flush to zero while the kernel runs (MXCSR FTZ + DAZ, restored on
   * return): a peaked softmax gives weights near 1e-38 whose products with the values
   * are subnormal, and each such FMA takes a microcode assist (llama2xs-279K, an
   * under-trained model: 2x slower than torch's kernel without this).  Only values
   * below 1.2e-38 change, which no float32 sum of the output can hold beside a weight
   * of 1. */
  unsigned int csr = _mm_getcsr();
  _mm_setcsr(csr | 0x8040);
  int status = attend(q, k, v, out, B, T, H, G, scale);
  _mm_setcsr(csr);
  return status;
}

static int attend(const float* q, const float* k, const float* v, float* out, int B, int T,
                  int H, int G, float scale) {
  int tp = (T + 7) & ~7, R = H / G;
  float* Kt = aligned_alloc(32, sizeof(float) * D * tp);
  float* Vt = aligned_alloc(32, sizeof(float) * D * tp);
  float* s = aligned_alloc(32, sizeof(float) * tp);
  if (!Kt || !Vt || !s) {
    free(Kt); free(Vt); free(s);
    return 1;
  }
  for (int j = T; j < tp; j++)
    for (int d = 0; d < D; d++) Kt[d * tp + j] = Vt[d * tp + j] = 0.f;
  for (int b = 0; b < B; b++)
    for (int g = 0; g < G; g++) {
      for (int j = 0; j < T; j++) {
        size_t at = ((size_t)(b * T + j) * G + g) * D;
        for (int d = 0; d < D; d++) {
          Kt[d * tp + j] = k[at + d] * scale;
          Vt[d * tp + j] = v[at + d];
        }
      }
      for (int i = 0; i < T; i++)
        for (int h = g * R; h < (g + 1) * R; h++) {
          size_t at = ((size_t)(b * T + i) * H + h) * D;
          one_query(q + at, Kt, Vt, s, i + 1, tp, out + at);
        }
    }
  free(Kt); free(Vt); free(s);
  return 0;
}
