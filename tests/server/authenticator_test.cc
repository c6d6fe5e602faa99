// Authenticator: the bearer-token check of each request. Exact codes and
// messages, tokens never echoed, reloads (Apply) and Authorize racing them.
#include "server/auth/authenticator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/auth/tenant_tokens.h"
#include "server/auth/token_hash.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::StatusCode kUnauthenticated =
    absl::StatusCode::kUnauthenticated;
constexpr absl::StatusCode kDenied = absl::StatusCode::kPermissionDenied;

// Distinctive, so a message that leaked any of it would be caught.
constexpr char kTokenA[] = "tokA-Zq9xK7vLw2";
constexpr char kTokenA2[] = "tokA2-Rotated-Mn4p";
constexpr char kTokenB[] = "tokB-Yh3jT8cQe5";
constexpr char kTokenC[] = "tokC-Unlisted-Pp1";

constexpr char kMissing[] =
    "missing bearer token: send the metadata 'authorization: Bearer <token>'";
constexpr char kMalformed[] =
    "malformed authorization metadata: expected 'Bearer <token>' (the scheme "
    "Bearer, one or more spaces, then the token)";
constexpr char kUnknown[] = "unknown bearer token";

std::shared_ptr<const TenantTokens> Tokens(const std::string& yaml) {
  absl::StatusOr<std::shared_ptr<const TenantTokens>> tokens =
      TenantTokens::Parse(yaml, "tokens.yaml");
  EXPECT_THAT(tokens, IsOk());
  return tokens.ok() ? *tokens : TenantTokens::Empty();
}

// team-a: two tokens (A: acquire+read on embed/search; A2: everything);
// team-b: one token with every scope on every operation but no report.
std::shared_ptr<const TenantTokens> StandardTokens() {
  return Tokens(absl::StrCat(
      "- tenant: team-a\n  token_sha256: ", Sha256Hex(kTokenA), "\n",
      "  operations: [embed, search]\n  scopes: [acquire, read]\n",
      "- tenant: team-a\n  token_sha256: ", Sha256Hex(kTokenA2), "\n",
      "- tenant: team-b\n  token_sha256: ", Sha256Hex(kTokenB), "\n",
      "  scopes: [acquire, retry, read]\n"));
}

std::string Bearer(absl::string_view token) {
  return absl::StrCat("Bearer ", token);
}

absl::StatusOr<Caller> Acquire(const Authenticator& auth,
                               std::optional<absl::string_view> header,
                               absl::string_view operation = "embed") {
  return auth.Authorize(header, Scope::kAcquire, operation, "AcquirePermit");
}

MATCHER_P(IsCaller, tenant, "") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status().ToString();
    return false;
  }
  *result_listener << "tenant is \"" << arg->tenant << "\"";
  return arg->tenant == tenant;
}

TEST(ParseBearerTokenTest, SchemeAnyCaseThenSpacesThenTheTokenVerbatim) {
  EXPECT_EQ(ParseBearerToken("Bearer abc"), "abc");
  EXPECT_EQ(ParseBearerToken("bearer abc"), "abc");
  EXPECT_EQ(ParseBearerToken("BEARER abc"), "abc");
  EXPECT_EQ(ParseBearerToken("Bearer    abc"), "abc");
  EXPECT_EQ(ParseBearerToken("Bearer abc "), "abc ");    // verbatim
  EXPECT_EQ(ParseBearerToken("Bearer a b=c"), "a b=c");  // verbatim
  EXPECT_EQ(ParseBearerToken("Bearer"), std::nullopt);
  EXPECT_EQ(ParseBearerToken("Bearer "), std::nullopt);
  EXPECT_EQ(ParseBearerToken("Bearer    "), std::nullopt);
  EXPECT_EQ(ParseBearerToken("Bearerabc"), std::nullopt);
  EXPECT_EQ(ParseBearerToken("Bearer\tabc"), std::nullopt);
  EXPECT_EQ(ParseBearerToken(" Bearer abc"), std::nullopt);
  EXPECT_EQ(ParseBearerToken("Basic abc"), std::nullopt);
  EXPECT_EQ(ParseBearerToken("abc"), std::nullopt);
  EXPECT_EQ(ParseBearerToken(""), std::nullopt);
}

TEST(AuthenticatorTest, DisabledLetsEveryRequestThroughWithNoTenant) {
  Authenticator auth(false, StandardTokens());
  EXPECT_FALSE(auth.enabled());
  for (std::optional<absl::string_view> header :
       {std::optional<absl::string_view>(),
        std::optional<absl::string_view>(""),
        std::optional<absl::string_view>("garbage"),
        std::optional<absl::string_view>("Bearer tokC-Unlisted-Pp1"),
        std::optional<absl::string_view>("Bearer tokA-Zq9xK7vLw2")}) {
    EXPECT_THAT(
        auth.Authorize(header, Scope::kReport, "not-granted", "ReportOutcome"),
        IsCaller(""));
  }
  Authenticator no_table(false, nullptr);
  EXPECT_THAT(Acquire(no_table, std::nullopt), IsCaller(""));
}

TEST(AuthenticatorTest, AKnownTokenIsItsTenant) {
  Authenticator auth(true, StandardTokens());
  EXPECT_TRUE(auth.enabled());
  const std::string header = Bearer(kTokenA);
  EXPECT_THAT(Acquire(auth, header), IsCaller("team-a"));
  EXPECT_THAT(Acquire(auth, std::string("bearer   ") + kTokenA),
              IsCaller("team-a"));
  EXPECT_THAT(Acquire(auth, Bearer(kTokenB), "anything"), IsCaller("team-b"));
}

TEST(AuthenticatorTest, BothTokensOfATenantWork) {
  Authenticator auth(true, StandardTokens());
  EXPECT_THAT(Acquire(auth, Bearer(kTokenA)), IsCaller("team-a"));
  EXPECT_THAT(Acquire(auth, Bearer(kTokenA2)), IsCaller("team-a"));
  // Each with its own grant: only the rotated token may report.
  EXPECT_THAT(auth.Authorize(Bearer(kTokenA2), Scope::kReport, "embed",
                             "ReportOutcome"),
              IsCaller("team-a"));
  EXPECT_THAT(
      auth.Authorize(Bearer(kTokenA), Scope::kReport, "embed", "ReportOutcome"),
      StatusIs(kDenied));
}

TEST(AuthenticatorTest, MissingMetadataIsUnauthenticated) {
  Authenticator auth(true, StandardTokens());
  EXPECT_THAT(Acquire(auth, std::nullopt),
              StatusIs(kUnauthenticated, kMissing));
}

TEST(AuthenticatorTest, AnythingButBearerTokenIsMalformed) {
  Authenticator auth(true, StandardTokens());
  const std::string a(kTokenA);
  for (const std::string& header : std::vector<std::string>{
           "", a, "Basic " + a, "Bearer", "Bearer ", "Bearer   ", "Bearer" + a,
           "Bearer\t" + a, " Bearer " + a, "Token " + a}) {
    const absl::StatusOr<Caller> caller = Acquire(auth, header);
    EXPECT_THAT(caller, StatusIs(kUnauthenticated, kMalformed)) << header;
  }
}

TEST(AuthenticatorTest, AnUnknownTokenIsUnauthenticated) {
  Authenticator auth(true, StandardTokens());
  EXPECT_THAT(Acquire(auth, Bearer(kTokenC)),
              StatusIs(kUnauthenticated, kUnknown));
  // Verbatim: surrounding spaces or a case change make another token.
  EXPECT_THAT(Acquire(auth, Bearer(std::string(kTokenA) + " ")),
              StatusIs(kUnauthenticated, kUnknown));
  EXPECT_THAT(Acquire(auth, Bearer("toka-Zq9xK7vLw2")),
              StatusIs(kUnauthenticated, kUnknown));
  // The header is not a token, nor is the token's hash.
  EXPECT_THAT(Acquire(auth, Bearer(Sha256Hex(kTokenA))),
              StatusIs(kUnauthenticated, kUnknown));
}

TEST(AuthenticatorTest, NoTokensTableMeansEveryTokenIsUnknown) {
  Authenticator null_table(true, nullptr);
  EXPECT_THAT(Acquire(null_table, Bearer(kTokenA)),
              StatusIs(kUnauthenticated, kUnknown));
  EXPECT_EQ(null_table.tokens()->size(), 0u);
  Authenticator empty(true, TenantTokens::Empty());
  EXPECT_THAT(Acquire(empty, Bearer(kTokenA)),
              StatusIs(kUnauthenticated, kUnknown));
}

TEST(AuthenticatorTest, ScopeNotGrantedIsPermissionDeniedNamingIt) {
  Authenticator auth(true, StandardTokens());
  EXPECT_THAT(
      auth.Authorize(Bearer(kTokenA), Scope::kReport, "embed", "ReportOutcome"),
      StatusIs(kDenied,
               "tenant \"team-a\" is not granted scope "
               "\"report\" (needed by ReportOutcome)"));
  EXPECT_THAT(auth.Authorize(Bearer(kTokenA), Scope::kRetry, "", "ShouldRetry"),
              StatusIs(kDenied,
                       "tenant \"team-a\" is not granted scope "
                       "\"retry\" (needed by ShouldRetry)"));
  EXPECT_THAT(
      auth.Authorize(Bearer(kTokenB), Scope::kReport, "", "ReportHealth"),
      StatusIs(kDenied,
               "tenant \"team-b\" is not granted scope "
               "\"report\" (needed by ReportHealth)"));
  EXPECT_THAT(auth.Authorize(Bearer(kTokenA), Scope::kRead, "", "GetStatus"),
              IsCaller("team-a"));
}

TEST(AuthenticatorTest, ScopeIsCheckedBeforeOperation) {
  Authenticator auth(true, StandardTokens());
  EXPECT_THAT(auth.Authorize(Bearer(kTokenA), Scope::kReport, "not-listed",
                             "ReportOutcome"),
              StatusIs(kDenied, HasSubstr("scope \"report\"")));
}

TEST(AuthenticatorTest, OperationNotGrantedIsPermissionDeniedNamingIt) {
  Authenticator auth(true, StandardTokens());
  EXPECT_THAT(Acquire(auth, Bearer(kTokenA), "search"), IsCaller("team-a"));
  EXPECT_THAT(
      Acquire(auth, Bearer(kTokenA), "rerank"),
      StatusIs(kDenied,
               "tenant \"team-a\" is not granted operation \"rerank\""));
  // An RPC without an operation checks only the scope.
  EXPECT_THAT(Acquire(auth, Bearer(kTokenA), ""), IsCaller("team-a"));
  // A hostile operation comes back bounded and escaped.
  const std::string hostile = "\x1b]0;pwned\x07" + std::string(200, 'o');
  const absl::StatusOr<Caller> denied = Acquire(auth, Bearer(kTokenA), hostile);
  EXPECT_THAT(denied, StatusIs(kDenied, HasSubstr("is not granted operation "
                                                  "\"\\x1b]0;pwned\\x07")));
  EXPECT_THAT(denied, StatusIs(kDenied, HasSubstr("... (210 bytes)")));
  EXPECT_THAT(denied, StatusIs(kDenied, Not(HasSubstr("\x1b"))));
}

TEST(AuthenticatorTest, OneTenantsGrantNeverMatchesAnothersToken) {
  // team-b may use any operation; team-a only embed/search. team-b's token
  // must not pick up team-a's grant, nor the other way round.
  Authenticator auth(true, StandardTokens());
  EXPECT_THAT(Acquire(auth, Bearer(kTokenB), "rerank"), IsCaller("team-b"));
  EXPECT_THAT(Acquire(auth, Bearer(kTokenA), "rerank"), StatusIs(kDenied));
  EXPECT_THAT(
      auth.Authorize(Bearer(kTokenA2), Scope::kReport, "", "ReportOutcome"),
      IsCaller("team-a"));
  EXPECT_THAT(
      auth.Authorize(Bearer(kTokenB), Scope::kReport, "", "ReportOutcome"),
      StatusIs(kDenied, HasSubstr("tenant \"team-b\"")));
}

TEST(AuthenticatorTest, NoMessageContainsTheTokenOrTheHeader) {
  Authenticator auth(
      true, Tokens(absl::StrCat(
                "- tenant: team-a\n  token_sha256: ", Sha256Hex(kTokenA),
                "\n  operations: [embed]\n", "  scopes: [acquire]\n")));
  const std::string a(kTokenA);
  const std::vector<std::pair<std::string, std::string>> cases = {
      // {header, the distinctive part it carries}
      {"Basic " + a, a},
      {"Bearer\t" + a, a},
      {"Bearer" + a, a},
      {"X-Secret-Scheme-Qk7", "X-Secret-Scheme-Qk7"},
      {Bearer(kTokenC), kTokenC},
      {Bearer(a), a},  // known token, denied scope/operation below
  };
  for (const auto& [header, secret] : cases) {
    for (Scope scope : kEveryScope) {
      for (absl::string_view operation : {"", "embed", "rerank"}) {
        const absl::StatusOr<Caller> caller =
            auth.Authorize(header, scope, operation, "AcquirePermit");
        if (caller.ok()) continue;
        const std::string message(caller.status().message());
        EXPECT_THAT(message, Not(HasSubstr(secret))) << header;
        EXPECT_THAT(message, Not(HasSubstr(secret.substr(0, 6)))) << header;
        EXPECT_THAT(message, Not(HasSubstr(Sha256Hex(secret).substr(0, 8))));
      }
    }
  }
  // And the allowed combination still works.
  EXPECT_THAT(Acquire(auth, Bearer(a)), IsCaller("team-a"));
}

TEST(AuthenticatorTest, ApplySwapsTheTable) {
  Authenticator auth(true,
                     Tokens(absl::StrCat("- tenant: team-a\n  token_sha256: ",
                                         Sha256Hex(kTokenA), "\n")));
  std::shared_ptr<const TenantTokens> before = auth.tokens();
  EXPECT_THAT(Acquire(auth, Bearer(kTokenA)), IsCaller("team-a"));
  EXPECT_THAT(Acquire(auth, Bearer(kTokenB)),
              StatusIs(kUnauthenticated, kUnknown));

  auth.Apply(true, Tokens(absl::StrCat("- tenant: team-b\n  token_sha256: ",
                                       Sha256Hex(kTokenB), "\n")));
  EXPECT_THAT(Acquire(auth, Bearer(kTokenA)),
              StatusIs(kUnauthenticated, kUnknown));
  EXPECT_THAT(Acquire(auth, Bearer(kTokenB)), IsCaller("team-b"));
  EXPECT_NE(auth.tokens(), before);
  // The old snapshot is untouched by the swap.
  EXPECT_NE(before->Find(Sha256(kTokenA)), nullptr);
}

TEST(AuthenticatorTest, ApplyTurnsAuthOffAndOn) {
  Authenticator auth(true, StandardTokens());
  EXPECT_THAT(Acquire(auth, std::nullopt),
              StatusIs(kUnauthenticated, kMissing));
  auth.Apply(false, StandardTokens());
  EXPECT_FALSE(auth.enabled());
  EXPECT_THAT(Acquire(auth, std::nullopt), IsCaller(""));
  EXPECT_THAT(Acquire(auth, Bearer(kTokenA)), IsCaller(""));
  auth.Apply(true, StandardTokens());
  EXPECT_TRUE(auth.enabled());
  EXPECT_THAT(Acquire(auth, std::nullopt),
              StatusIs(kUnauthenticated, kMissing));
  EXPECT_THAT(Acquire(auth, Bearer(kTokenA)), IsCaller("team-a"));
}

TEST(AuthenticatorTest, AuthorizeWhileApplyRuns) {
  // Two tables: token A is team-a's in the first, token B team-b's in the
  // second. Every answer must come whole from one of them.
  const std::shared_ptr<const TenantTokens> first = Tokens(absl::StrCat(
      "- tenant: team-a\n  token_sha256: ", Sha256Hex(kTokenA), "\n"));
  const std::shared_ptr<const TenantTokens> second = Tokens(absl::StrCat(
      "- tenant: team-b\n  token_sha256: ", Sha256Hex(kTokenB), "\n"));
  Authenticator auth(true, first);

  constexpr int kThreads = 4;
  constexpr int kIterations = 5000;
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string header = Bearer(t % 2 == 0 ? kTokenA : kTokenB);
      const std::string expected = t % 2 == 0 ? "team-a" : "team-b";
      for (int i = 0; i < kIterations; ++i) {
        const absl::StatusOr<Caller> caller = Acquire(auth, header);
        if (caller.ok()) {
          if (caller->tenant != expected) ++wrong;
        } else if (caller.status().code() != kUnauthenticated ||
                   caller.status().message() != kUnknown) {
          ++wrong;
        }
      }
    });
  }
  std::thread writer([&] {
    for (int i = 0; i < 2000 && !stop.load(); ++i) {
      auth.Apply(true, i % 2 == 0 ? second : first);
    }
  });
  for (std::thread& thread : threads) thread.join();
  stop = true;
  writer.join();
  EXPECT_EQ(wrong.load(), 0);
  // After the writer: the last table it published answers.
  auth.Apply(true, second);
  EXPECT_THAT(Acquire(auth, Bearer(kTokenB)), IsCaller("team-b"));
  EXPECT_THAT(Acquire(auth, Bearer(kTokenA)),
              StatusIs(kUnauthenticated, kUnknown));
}

}  // namespace
}  // namespace crossbridge
