// TenantTokens (the tokens file) and token_hash: grants and their defaults,
// lookups by digest, and every error with its position and entry path.
#include "server/auth/tenant_tokens.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/auth/token_hash.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

absl::StatusOr<std::shared_ptr<const TenantTokens>> Parse(
    const std::string& yaml) {
  return TenantTokens::Parse(yaml, "tokens.yaml");
}

// The message of the (InvalidArgument) error that `yaml` must produce.
std::string ErrorOf(const std::string& yaml) {
  absl::StatusOr<std::shared_ptr<const TenantTokens>> tokens = Parse(yaml);
  EXPECT_THAT(tokens, StatusIs(kInvalid)) << yaml;
  return std::string(tokens.status().message());
}

std::shared_ptr<const TenantTokens> ParseOk(const std::string& yaml) {
  absl::StatusOr<std::shared_ptr<const TenantTokens>> tokens = Parse(yaml);
  EXPECT_THAT(tokens, IsOk()) << yaml;
  return tokens.ok() ? *tokens : TenantTokens::Empty();
}

const std::string kHashA = Sha256Hex("token-a");
const std::string kHashA2 = Sha256Hex("token-a-rotated");
const std::string kHashB = Sha256Hex("token-b");

// ---- token_hash
// --------------------------------------------------------------

TEST(TokenHashTest, Sha256HexIsTheStandardDigestInLowercase) {
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  // Hashes the bytes given, embedded NULs and all.
  EXPECT_NE(Sha256Hex(absl::string_view("a\0b", 3)), Sha256Hex("a"));
}

TEST(TokenHashTest, Sha256IsTheBytesOfSha256Hex) {
  const Sha256Digest digest = Sha256("abc");
  EXPECT_EQ(digest[0], 0xba);
  EXPECT_EQ(digest[1], 0x78);
  EXPECT_EQ(digest[31], 0xad);
  std::string hex;
  for (uint8_t byte : digest)
    absl::StrAppend(&hex, absl::Hex(byte, absl::kZeroPad2));
  EXPECT_EQ(hex, Sha256Hex("abc"));
}

TEST(TokenHashTest, TrimTokenStripsOnlySurroundingAsciiWhitespace) {
  EXPECT_EQ(TrimToken("s3cret\n"), "s3cret");
  EXPECT_EQ(TrimToken("s3cret\r\n"), "s3cret");
  EXPECT_EQ(TrimToken(" \t s3cret \t\n\n"), "s3cret");
  EXPECT_EQ(TrimToken("s3 cr\tet"), "s3 cr\tet");  // inside: untouched
  EXPECT_EQ(TrimToken("\n"), "");
  EXPECT_EQ(TrimToken(""), "");
  // --hash-token of `echo test` is the token_sha256 of "test".
  EXPECT_EQ(Sha256Hex(TrimToken("test\n")), Sha256Hex("test"));
}

TEST(ScopeTest, NamesRoundTrip) {
  EXPECT_EQ(ScopeName(Scope::kAcquire), "acquire");
  EXPECT_EQ(ScopeName(Scope::kRetry), "retry");
  EXPECT_EQ(ScopeName(Scope::kReport), "report");
  EXPECT_EQ(ScopeName(Scope::kRead), "read");
  for (Scope scope : kEveryScope)
    EXPECT_EQ(ScopeFromName(ScopeName(scope)), scope);
  EXPECT_EQ(ScopeFromName("Acquire"), std::nullopt);
  EXPECT_EQ(ScopeFromName(""), std::nullopt);
}

// ---- grants
// ------------------------------------------------------------------

TEST(TenantTokensTest, AbsentOperationsAndScopesGrantEverything) {
  auto tokens =
      ParseOk(absl::StrCat("- tenant: team-a\n  token_sha256: ", kHashA, "\n"));
  ASSERT_EQ(tokens->size(), 1u);
  const TenantGrant* grant = tokens->Find(Sha256("token-a"));
  ASSERT_NE(grant, nullptr);
  EXPECT_EQ(grant->tenant, "team-a");
  EXPECT_EQ(grant->token_sha256, Sha256("token-a"));
  EXPECT_EQ(grant->operations, std::nullopt);
  EXPECT_EQ(grant->scopes, kAllScopes);
  for (Scope scope : kEveryScope) EXPECT_TRUE(grant->Allows(scope));
  EXPECT_TRUE(grant->AllowsOperation("embed"));
  EXPECT_TRUE(grant->AllowsOperation("anything.else-1"));
}

TEST(TenantTokensTest, EmptyListsGrantNothing) {
  auto tokens =
      ParseOk(absl::StrCat("- tenant: team-a\n  token_sha256: ", kHashA,
                           "\n  operations: []\n  scopes: []\n"));
  const TenantGrant* grant = tokens->Find(Sha256("token-a"));
  ASSERT_NE(grant, nullptr);
  ASSERT_TRUE(grant->operations.has_value());
  EXPECT_TRUE(grant->operations->empty());
  EXPECT_EQ(grant->scopes, 0);
  for (Scope scope : kEveryScope) EXPECT_FALSE(grant->Allows(scope));
  EXPECT_FALSE(grant->AllowsOperation("embed"));
  EXPECT_FALSE(grant->AllowsOperation(""));
}

TEST(TenantTokensTest, ListedOperationsAndScopesAreExactlyThoseGranted) {
  auto tokens = ParseOk(
      absl::StrCat("- tenant: team-a\n  token_sha256: ", kHashA,
                   "\n  operations: [embed, search.v2]\n"
                   "  scopes:\n    - acquire\n    - read\n    - read\n"));
  const TenantGrant* grant = tokens->Find(Sha256("token-a"));
  ASSERT_NE(grant, nullptr);
  EXPECT_TRUE(grant->Allows(Scope::kAcquire));
  EXPECT_TRUE(grant->Allows(Scope::kRead));
  EXPECT_FALSE(grant->Allows(Scope::kRetry));
  EXPECT_FALSE(grant->Allows(Scope::kReport));
  EXPECT_EQ(grant->scopes, ScopeBit(Scope::kAcquire) | ScopeBit(Scope::kRead));
  EXPECT_TRUE(grant->AllowsOperation("embed"));
  EXPECT_TRUE(grant->AllowsOperation("search.v2"));
  EXPECT_FALSE(grant->AllowsOperation("search"));
  EXPECT_FALSE(grant->AllowsOperation("Embed"));
  EXPECT_FALSE(grant->AllowsOperation(""));
}

TEST(TenantTokensTest, ATenantMayHoldSeveralTokensAndTenantsAreListedOnce) {
  auto tokens = ParseOk(absl::StrCat(
      "- tenant: team-b\n  token_sha256: ", kHashB, "\n",
      "- tenant: team-a\n  token_sha256: ", kHashA, "\n  scopes: [read]\n",
      "- tenant: team-a\n  token_sha256: ", kHashA2, "\n"));
  EXPECT_EQ(tokens->size(), 3u);
  EXPECT_THAT(tokens->tenants(), ElementsAre("team-a", "team-b"));
  ASSERT_EQ(tokens->grants().size(), 3u);
  EXPECT_EQ(tokens->grants()[0].tenant, "team-b");  // file order

  const TenantGrant* old_token = tokens->Find(Sha256("token-a"));
  const TenantGrant* new_token = tokens->Find(Sha256("token-a-rotated"));
  const TenantGrant* b = tokens->Find(Sha256("token-b"));
  ASSERT_NE(old_token, nullptr);
  ASSERT_NE(new_token, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(old_token->tenant, "team-a");
  EXPECT_EQ(new_token->tenant, "team-a");
  EXPECT_EQ(b->tenant, "team-b");
  // Each token has its own grant.
  EXPECT_EQ(old_token->scopes, ScopeBit(Scope::kRead));
  EXPECT_EQ(new_token->scopes, kAllScopes);
}

TEST(TenantTokensTest, FindMatchesOnlyTheWholeDigest) {
  auto tokens =
      ParseOk(absl::StrCat("- tenant: team-a\n  token_sha256: ", kHashA, "\n"));
  EXPECT_EQ(tokens->Find(Sha256("token-b")), nullptr);
  EXPECT_EQ(tokens->Find(Sha256("")), nullptr);
  Sha256Digest almost = Sha256("token-a");
  almost[31] ^= 1;
  EXPECT_EQ(tokens->Find(almost), nullptr);
  almost = Sha256("token-a");
  almost[0] ^= 0x80;
  EXPECT_EQ(tokens->Find(almost), nullptr);
  EXPECT_NE(tokens->Find(Sha256("token-a")), nullptr);
}

TEST(TenantTokensTest, UppercaseAndQuotedHexAreAccepted) {
  auto tokens = ParseOk(absl::StrCat(
      "- tenant: team-a\n  token_sha256: ", absl::AsciiStrToUpper(kHashA), "\n",
      "- tenant: team-b\n  token_sha256: \"", kHashB, "\"\n"));
  ASSERT_NE(tokens->Find(Sha256("token-a")), nullptr);
  ASSERT_NE(tokens->Find(Sha256("token-b")), nullptr);
  EXPECT_EQ(tokens->Find(Sha256("token-a"))->tenant, "team-a");
}

TEST(TenantTokensTest, FlowStyleAndNumericTenantsParse) {
  auto tokens = ParseOk(absl::StrCat("[{tenant: 42, token_sha256: ", kHashA,
                                     ", scopes: [retry]}]"));
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_EQ(tokens->grants()[0].tenant, "42");
  EXPECT_EQ(tokens->grants()[0].scopes, ScopeBit(Scope::kRetry));
}

TEST(TenantTokensTest, AnEmptyDocumentHasNoEntries) {
  for (const char* yaml :
       {"", "\n", "# no tenants yet\n", "[]\n", "---\n", "~\n"}) {
    auto tokens = Parse(yaml);
    ASSERT_THAT(tokens, IsOk()) << yaml;
    EXPECT_EQ((*tokens)->size(), 0u) << yaml;
    EXPECT_TRUE((*tokens)->tenants().empty());
    EXPECT_EQ((*tokens)->Find(Sha256("")), nullptr);
  }
  EXPECT_EQ(TenantTokens::Empty()->size(), 0u);
  EXPECT_EQ(TenantTokens::Empty()->Find(Sha256("token-a")), nullptr);
}

// ---- errors
// ------------------------------------------------------------------

TEST(TenantTokensErrorTest, TheDocumentMustBeAList) {
  EXPECT_EQ(
      ErrorOf(absl::StrCat("tenant: team-a\ntoken_sha256: ", kHashA, "\n")),
      "tokens.yaml:1:1: expected a list of token entries at the top level "
      "(\"- tenant: ...\"), got a map");
  // A token pasted as the whole file is not repeated.
  const std::string error = ErrorOf("tok-SECRET-123\n");
  EXPECT_EQ(
      error,
      "tokens.yaml:1:1: expected a list of token entries at the top level "
      "(\"- tenant: ...\"), got a string");
}

TEST(TenantTokensErrorTest, EachEntryMustBeAMap) {
  EXPECT_EQ(
      ErrorOf(absl::StrCat("- tenant: team-a\n  token_sha256: ", kHashA,
                           "\n- tok-SECRET-123\n")),
      "tokens.yaml:3:3: [1]: expected a map with tenant and token_sha256, "
      "got a string");
  EXPECT_EQ(
      ErrorOf("- [a, b]\n"),
      "tokens.yaml:1:3: [0]: expected a map with tenant and token_sha256, "
      "got a list");
  EXPECT_THAT(ErrorOf("-\n"),
              HasSubstr("[0]: expected a map with tenant and token_sha256, got "
                        "an empty value"));
}

TEST(TenantTokensErrorTest, UnknownKeysAreNamedWithTheAllowedOnes) {
  EXPECT_EQ(ErrorOf(absl::StrCat("- tenant: team-a\n  token_sha256: ", kHashA,
                                 "\n- tenant: team-b\n  token: x\n")),
            "tokens.yaml:4:3: [1].token: unknown key (expected one of: tenant, "
            "token_sha256, operations, scopes)");
}

TEST(TenantTokensErrorTest, DuplicateKeysAreErrors) {
  EXPECT_EQ(
      ErrorOf(absl::StrCat("- tenant: team-a\n  token_sha256: ", kHashA,
                           "\n  tenant: team-b\n")),
      "tokens.yaml:3:3: [0].tenant: duplicate key (first defined at line 1)");
}

TEST(TenantTokensErrorTest, TenantAndTokenAreRequired) {
  EXPECT_EQ(
      ErrorOf(absl::StrCat("- token_sha256: ", kHashA, "\n")),
      "tokens.yaml:1:3: [0].tenant: missing (every entry needs tenant and "
      "token_sha256)");
  EXPECT_EQ(ErrorOf(absl::StrCat("- tenant: team-a\n  token_sha256: ", kHashA,
                                 "\n-  tenant: team-b\n   scopes: [read]\n")),
            "tokens.yaml:3:4: [1].token_sha256: missing (every entry needs "
            "tenant and token_sha256)");
}

TEST(TenantTokensErrorTest, TenantMustBeAnEntryName) {
  EXPECT_EQ(ErrorOf(absl::StrCat(
                "- tenant: \"team a\"\n  token_sha256: ", kHashA, "\n")),
            "tokens.yaml:1:11: [0].tenant: invalid tenant name \"team a\": "
            "must match [A-Za-z0-9_.-]{1,64}");
  EXPECT_THAT(ErrorOf(absl::StrCat("- tenant: ", std::string(65, 'x'),
                                   "\n  token_sha256: ", kHashA, "\n")),
              HasSubstr("[0].tenant: invalid tenant name"));
  EXPECT_THAT(
      ErrorOf(absl::StrCat("- tenant: \"\"\n  token_sha256: ", kHashA, "\n")),
      HasSubstr("[0].tenant: invalid tenant name \"\""));
  EXPECT_EQ(
      ErrorOf(absl::StrCat("- tenant: [a]\n  token_sha256: ", kHashA, "\n")),
      "tokens.yaml:1:11: [0].tenant: expected a string, got a list");
  EXPECT_EQ(
      ErrorOf(absl::StrCat("- tenant:\n  token_sha256: ", kHashA, "\n")),
      "tokens.yaml:1:3: [0].tenant: expected a string, got an empty value");
}

TEST(TenantTokensErrorTest, TokenSha256MustBe64HexDigitsAndIsNeverShown) {
  const std::string kExpected =
      "must be 64 hex digits: the SHA-256 of the token, as crossbridge-server "
      "--hash-token prints it";
  // A raw token where its hash belongs.
  std::string error =
      ErrorOf("- tenant: team-a\n  token_sha256: tok-SECRET-123\n");
  EXPECT_EQ(error,
            absl::StrCat("tokens.yaml:2:17: [0].token_sha256: ", kExpected,
                         " (got 14 characters; the value is not shown)"));
  // 64 characters, one not hex.
  std::string bad = kHashA;
  bad[10] = 'g';
  error =
      ErrorOf(absl::StrCat("- tenant: team-a\n  token_sha256: ", bad, "\n"));
  EXPECT_EQ(error,
            absl::StrCat("tokens.yaml:2:17: [0].token_sha256: ", kExpected,
                         " (got 64 characters, not all hex; the value is not "
                         "shown)"));
  EXPECT_THAT(error, Not(HasSubstr(bad.substr(0, 10))));
  // One digit short, one too many.
  EXPECT_THAT(ErrorOf(absl::StrCat("- tenant: team-a\n  token_sha256: ",
                                   kHashA.substr(1), "\n")),
              HasSubstr("(got 63 characters; the value is not shown)"));
  EXPECT_THAT(ErrorOf(absl::StrCat("- tenant: team-a\n  token_sha256: ", kHashA,
                                   "0\n")),
              HasSubstr("(got 65 characters; the value is not shown)"));
  EXPECT_EQ(ErrorOf("- tenant: team-a\n  token_sha256: [tok-SECRET-123]\n"),
            absl::StrCat("tokens.yaml:2:17: [0].token_sha256: ", kExpected,
                         " (got a list)"));
  EXPECT_EQ(ErrorOf("- tenant: team-a\n  token_sha256:\n"),
            absl::StrCat("tokens.yaml:2:3: [0].token_sha256: ", kExpected,
                         " (got an empty value)"));
  // A "0x" prefix is not part of the form.
  EXPECT_THAT(ErrorOf(absl::StrCat("- tenant: team-a\n  token_sha256: 0x",
                                   kHashA.substr(2), "\n")),
              HasSubstr("not all hex"));
}

TEST(TenantTokensErrorTest, NoErrorShowsTheSecretText) {
  const std::string kSecret = "tok-SECRET-123";
  for (const std::string& yaml : {
           kSecret + "\n",
           "- " + kSecret + "\n",
           "- tenant: team-a\n  token_sha256: " + kSecret + "\n",
           "- tenant: team-a\n  token_sha256: [" + kSecret + "]\n",
           "- tenant: team-a\n  token_sha256: {" + kSecret + ": 1}\n",
           "- tenant: team-a\n  token_sha256: " + kSecret + "\n  bogus: 1\n",
       }) {
    EXPECT_THAT(ErrorOf(yaml), Not(HasSubstr("SECRET"))) << yaml;
  }
}

TEST(TenantTokensErrorTest, ADuplicateTokenNamesBothEntries) {
  const std::string yaml = absl::StrCat(
      "- tenant: team-a\n  token_sha256: ", kHashA, "\n",
      "- tenant: team-b\n  token_sha256: ", kHashB, "\n",
      "- tenant: team-c\n  token_sha256: ", absl::AsciiStrToUpper(kHashA),
      "\n");
  const std::string error = ErrorOf(yaml);
  EXPECT_EQ(error,
            "tokens.yaml:6:17: [2].token_sha256: duplicate: the same "
            "token_sha256 as [0].token_sha256 at tokens.yaml:2:17 (tenant "
            "\"team-a\"); each token may appear only once");
  EXPECT_THAT(error, Not(HasSubstr(kHashA.substr(0, 8))));
  // The same tenant twice with one token is a duplicate too.
  EXPECT_THAT(ErrorOf(absl::StrCat(
                  "- tenant: team-a\n  token_sha256: ", kHashA,
                  "\n- tenant: team-a\n  token_sha256: ", kHashA, "\n")),
              HasSubstr("tokens.yaml:4:17: [1].token_sha256: duplicate: the "
                        "same token_sha256 as [0].token_sha256 at "
                        "tokens.yaml:2:17"));
}

TEST(TenantTokensErrorTest, UnknownScopesAreNamedWithTheValidOnes) {
  EXPECT_EQ(
      ErrorOf(absl::StrCat("- tenant: team-a\n  token_sha256: ", kHashA,
                           "\n  scopes: [acquire, write]\n")),
      "tokens.yaml:3:21: [0].scopes[1]: unknown scope \"write\" (expected "
      "one of: acquire, retry, report, read)");
  EXPECT_EQ(ErrorOf(absl::StrCat("- tenant: team-a\n  token_sha256: ", kHashA,
                                 "\n  scopes:\n    - READ\n")),
            "tokens.yaml:4:7: [0].scopes[0]: unknown scope \"READ\" (expected "
            "one of: acquire, retry, report, read)");
  EXPECT_EQ(ErrorOf(absl::StrCat("- tenant: team-a\n  token_sha256: ", kHashA,
                                 "\n  scopes: [[acquire]]\n")),
            "tokens.yaml:3:12: [0].scopes[0]: expected a scope, got a list "
            "(expected one of: acquire, retry, report, read)");
}

TEST(TenantTokensErrorTest, OperationsMustBeEntryNames) {
  EXPECT_EQ(ErrorOf(absl::StrCat("- tenant: team-a\n  token_sha256: ", kHashA,
                                 "\n  operations: [embed, \"a b\"]\n")),
            "tokens.yaml:3:23: [0].operations[1]: invalid operation name "
            "\"a b\": must match [A-Za-z0-9_.-]{1,64}");
  EXPECT_EQ(ErrorOf(absl::StrCat("- tenant: team-a\n  token_sha256: ", kHashA,
                                 "\n  operations: [{a: 1}]\n")),
            "tokens.yaml:3:16: [0].operations[0]: expected an operation name, "
            "got a map");
  // Bounded and escaped in the message.
  const std::string error = ErrorOf(
      absl::StrCat("- tenant: team-a\n  token_sha256: ", kHashA,
                   "\n  operations: [\"\\e", std::string(100, 'x'), "\"]\n"));
  EXPECT_THAT(error, HasSubstr("invalid operation name \"\\x1bxxx"));
  EXPECT_THAT(error, HasSubstr("... (101 bytes)"));
  EXPECT_THAT(error, Not(HasSubstr("\x1b")));
}

TEST(TenantTokensErrorTest, OperationsAndScopesMustBeLists) {
  const std::string entry =
      absl::StrCat("- tenant: team-a\n  token_sha256: ", kHashA, "\n");
  EXPECT_EQ(ErrorOf(entry + "  operations: embed\n"),
            "tokens.yaml:3:15: [0].operations: expected a list of operation "
            "names (absent = all, [] = none), got a string");
  EXPECT_EQ(ErrorOf(entry + "  scopes: {acquire: true}\n"),
            "tokens.yaml:3:11: [0].scopes: expected a list of scopes (absent = "
            "all, [] = none), got a map");
  // An empty value is neither "all" nor "none".
  EXPECT_EQ(ErrorOf(entry + "  scopes:\n"),
            "tokens.yaml:3:3: [0].scopes: expected a list of scopes (absent = "
            "all, [] = none), got an empty value");
}

TEST(TenantTokensErrorTest, YamlSyntaxErrorsArePositioned) {
  EXPECT_EQ(ErrorOf("- tenant: team-a\n  token_sha256: [abc\n"),
            "tokens.yaml:3:1: end of sequence flow not found");
  EXPECT_EQ(ErrorOf("- tenant: team-a\n   bad: : :\n"),
            "tokens.yaml:2:7: illegal map value");
  EXPECT_EQ(ErrorOf("- {tenant: a\n"),
            "tokens.yaml:2:1: end of map flow not found");
  EXPECT_THAT(ErrorOf(std::string(3000, '[') + std::string(3000, ']')),
              HasSubstr("YAML nested deeper than"));
}

TEST(TenantTokensErrorTest, ASecondDocumentIsAnError) {
  EXPECT_EQ(ErrorOf(absl::StrCat(
                "- tenant: team-a\n  token_sha256: ", kHashA,
                "\n---\n- tenant: team-b\n  token_sha256: ", kHashB, "\n")),
            "tokens.yaml:3:1: expected a single YAML document, found a second "
            "one");
}

// ---- Load
// --------------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    char templ[] = "/tmp/tenant_tokens_test.XXXXXX";
    path_ = mkdtemp(templ);
  }
  ~TempDir() {
    for (const std::string& file : files_) std::remove(file.c_str());
    rmdir(path_.c_str());
  }
  std::string Write(const std::string& name, const std::string& text) {
    std::string file = absl::StrCat(path_, "/", name);
    std::ofstream(file, std::ios::binary) << text;
    files_.push_back(file);
    return file;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

TEST(TenantTokensLoadTest, LoadsAFileAndNamesItInErrors) {
  TempDir dir;
  const std::string good = dir.Write(
      "tokens.yaml",
      absl::StrCat("- tenant: team-a\n  token_sha256: ", kHashA, "\n"));
  auto tokens = TenantTokens::Load(good);
  ASSERT_THAT(tokens, IsOk());
  EXPECT_NE((*tokens)->Find(Sha256("token-a")), nullptr);

  const std::string bad = dir.Write("bad.yaml", "- tenant: team-a\n");
  EXPECT_THAT(TenantTokens::Load(bad),
              StatusIs(kInvalid, absl::StrCat(bad,
                                              ":1:3: [0].token_sha256: missing "
                                              "(every entry needs tenant and "
                                              "token_sha256)")));
}

TEST(TenantTokensLoadTest, AnUnreadablePathIsNamedWithTheReason) {
  TempDir dir;
  const std::string missing = dir.path() + "/absent.yaml";
  EXPECT_THAT(TenantTokens::Load(missing),
              StatusIs(absl::StatusCode::kNotFound,
                       absl::StrCat("auth.tokens_file: cannot read \"", missing,
                                    "\": No such file or directory")));
  EXPECT_THAT(
      TenantTokens::Load(dir.path()),
      StatusIs(kInvalid, absl::StrCat("auth.tokens_file: cannot read \"",
                                      dir.path(), "\": not a regular file")));
  // A FIFO is refused, not waited on for a writer.
  const std::string fifo = dir.path() + "/fifo.yaml";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THAT(
      TenantTokens::Load(fifo),
      StatusIs(kInvalid, absl::StrCat("auth.tokens_file: cannot read \"", fifo,
                                      "\": not a regular file")));
  std::remove(fifo.c_str());
  if (geteuid() != 0) {  // root reads anything
    const std::string locked = dir.Write("locked.yaml", "[]\n");
    ASSERT_EQ(chmod(locked.c_str(), 0), 0);
    EXPECT_THAT(TenantTokens::Load(locked),
                StatusIs(kInvalid, HasSubstr("Permission denied")));
  }
}

}  // namespace
}  // namespace crossbridge
