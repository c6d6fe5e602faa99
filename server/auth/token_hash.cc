#include "server/auth/token_hash.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/ascii.h"

namespace crossbridge {
namespace {

[[noreturn]] void DieNoSha256(const char* what) {
  char detail[256] = "no OpenSSL error queued";
  if (unsigned long e = ERR_get_error(); e != 0) {
    ERR_error_string_n(e, detail, sizeof(detail));
  }
  std::fprintf(stderr, "crossbridge: fatal: cannot compute SHA-256 (%s): %s\n",
               what, detail);
  std::abort();
}

// SHA-256 fetched once from the default provider: EVP_sha256() would make
// every EVP_Digest look the implementation up again (a lock on OpenSSL 3's
// method store per call). Never freed: it lives as long as the process.
const EVP_MD* Sha256Md() {
  static const EVP_MD* const md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();
  }();
  return md;
}

}  // namespace

Sha256Digest Sha256(absl::string_view data) {
  // One digest context per thread, reused: EVP_Digest would allocate and
  // free a context on every call (the request path hashes every token).
  struct Context {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Context() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Context context;
  if (context.ctx == nullptr) DieNoSha256("EVP_MD_CTX_new failed");
  Sha256Digest digest;
  unsigned int size = 0;
  if (EVP_DigestInit_ex2(context.ctx, Sha256Md(), nullptr) != 1 ||
      EVP_DigestUpdate(context.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(context.ctx, digest.data(), &size) != 1) {
    DieNoSha256("EVP_Digest failed");
  }
  if (size != digest.size()) DieNoSha256("unexpected digest size");
  return digest;
}

std::string Sha256Hex(absl::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  const Sha256Digest digest = Sha256(data);
  std::string hex(2 * digest.size(), '0');
  for (size_t i = 0; i < digest.size(); ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0x0F];
  }
  return hex;
}

absl::string_view TrimToken(absl::string_view text) {
  return absl::StripAsciiWhitespace(text);
}

}  // namespace crossbridge
