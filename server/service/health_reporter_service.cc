#include "server/service/health_reporter_service.h"

#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/quote.h"
#include "server/service/call_auth.h"
#include "server/service/raw_message.h"
#include "server/service/rpc_timer.h"

namespace crossbridge {
namespace {

v1::DependencyStatus StateToProto(DependencyState state) {
  switch (state) {
    case DependencyState::kUnknown: return v1::STATUS_UNKNOWN;
    case DependencyState::kServing: return v1::STATUS_SERVING;
    case DependencyState::kNotServing: return v1::STATUS_NOT_SERVING;
    case DependencyState::kDisabled: return v1::STATUS_DISABLED;
  }
  return v1::DEPENDENCY_STATUS_UNSPECIFIED;
}

void ToProto(const DependencySnapshot& s, v1::DependencyHealth* out) {
  out->set_name(s.name);
  out->set_status(StateToProto(s.state));
  out->set_consecutive_failures(static_cast<uint32_t>(s.consecutive_failures));
  out->set_last_latency_ms(absl::ToInt64Milliseconds(s.last_latency));
  out->set_last_error(s.last_error);
  if (s.last_check_time != absl::InfinitePast()) {
    const int64_t us = absl::ToUnixMicros(s.last_check_time);
    out->mutable_last_check_time()->set_seconds(us / 1'000'000);
    out->mutable_last_check_time()->set_nanos(static_cast<int32_t>(us % 1'000'000) * 1000);
  }
  out->set_check_type(std::string(CheckTypeName(s.check_type)));
  out->set_target(s.target);
  out->set_failure_threshold(static_cast<uint32_t>(s.failure_threshold));
}

}  // namespace

grpc::ServerUnaryReactor* HealthReporterService::GetHealth(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const RpcTimer timer(get_health_);
  if (absl::StatusOr<Caller> caller = auth_.Authorize(
          AuthorizationOf(*context), Scope::kRead, "", "GetHealth");
      !caller.ok()) {
    timer.Finish(reactor, ToGrpcStatus(caller.status()));
    return reactor;
  }
  v1::GetHealthRequest proto;
  if (grpc::Status parsed = ParseRawRequest(*request, proto); !parsed.ok()) {
    timer.Finish(reactor, parsed);
    return reactor;
  }
  v1::HealthReport report;
  bool all_serving = true;
  for (const DependencySnapshot& s : registry_.Snapshot()) {
    ToProto(s, report.add_dependencies());
    all_serving = all_serving && s.state != DependencyState::kNotServing;
  }
  report.set_status(all_serving ? v1::STATUS_SERVING : v1::STATUS_NOT_SERVING);
  if (store_health_) {
    if (std::optional<DependencySnapshot> store = store_health_()) {
      ToProto(*store, report.mutable_store());
    }
  }
  timer.Finish(reactor, SerializeRawResponse(report, *response));
  return reactor;
}

absl::Status CheckOutcomeCode(absl::string_view code) {
  if (code.size() > kMaxQuotedBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "code: ", code.size(), " bytes, longer than the limit of ",
        kMaxQuotedBytes, " (a status such as 503 or UNAVAILABLE)"));
  }
  if (FindUnprintable(code) != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "code: ", QuoteForMessage(code),
        " holds a control character or is not valid UTF-8"));
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* HealthReporterService::ReportOutcome(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const RpcTimer timer(report_outcome_);
  if (absl::StatusOr<Caller> caller = auth_.Authorize(
          AuthorizationOf(*context), Scope::kReport, "", "ReportOutcome");
      !caller.ok()) {
    timer.Finish(reactor, ToGrpcStatus(caller.status()));
    return reactor;
  }
  v1::ReportOutcomeRequest proto;
  if (grpc::Status parsed = ParseRawRequest(*request, proto); !parsed.ok()) {
    timer.Finish(reactor, parsed);
    return reactor;
  }
  if (proto.provider().empty()) {
    timer.Finish(reactor, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "provider: must not be empty"));
    return reactor;
  }
  if (absl::Status s = CheckOutcomeCode(proto.code()); !s.ok()) {
    timer.Finish(reactor, ToGrpcStatus(s));
    return reactor;
  }
  std::string error;
  if (!proto.success()) {
    error = proto.code().empty() ? "reported failure"
                                 : absl::StrCat("reported ", proto.code());
  }
  registry_.Report(
      proto.provider(), proto.success(),
      absl::Milliseconds(static_cast<int64_t>(
          std::min<uint64_t>(proto.latency_ms(), uint64_t{1} << 40))),
      error, [this, reactor, response, timer,
              success = proto.success()](absl::StatusOr<DependencySnapshot> s) {
        if (!s.ok()) {
          timer.Finish(reactor, ToGrpcStatus(absl::Status(
              s.status().code(), absl::StrCat("provider: ", s.status().message()))));
          return;
        }
        // A success refills the budget of the provider's retry policy.
        if (success) {
          advisor_.RecordSuccess(s->retry_policy);
        }
        v1::ReportOutcomeResponse out;
        ToProto(*s, out.mutable_dependency());
        timer.Finish(reactor, SerializeRawResponse(out, *response));
      });
  return reactor;
}

}  // namespace crossbridge
