// SPDX-License-Identifier: MIT
// P: what each policy beyond kompoz costs per call, on its cheapest run (nothing to retry,
// hedge, wait for or open), beside the B0 floor of the same path in the same process. Each
// policy runs on the callback path (run(ctx, fn), a plain bool task) and on the QFuture path
// (run(ctx).then(), a ready task). Ids: "P.<policy>.<path>.<task>".

#include "sequential.h"

#include <kompoz/kompoz.h>

#include <chrono>

namespace bench {
namespace {
using namespace std::chrono_literals;

//! The task of each path: a plain bool on the callback path, a ready QFuture on the other.
Task taskOf(Path path) { return path == Path::Callback ? Task::Plain : Task::Ready; }

//! A rule whose verdict is always false, so a fallback's alternative runs.
kompoz::AsyncCombinator<int> failingRule(Task task)
{
    if (task == Task::Ready)
        return kompoz::asyncRule<int>([](int) { return readyFuture(false); });
    return kompoz::asyncRule<int>([](int i) { return !plainTask(i); });
}

//! One policy on one path. `make(task)` returns a tuple whose first element is run;
//! `verify(parts, n, checks)` checks that the policy did what its id says (every run is also
//! checked to have succeeded).
template<typename Make, typename Verify>
Variant policy(const char *name, const QString &what, Path path, qint64 n, Make make, Verify verify)
{
    const Task task = taskOf(path);
    return sequential(
            QStringLiteral("P.%1.%2.%3").arg(QLatin1String(name), pathName(path), taskName(task)),
            QStringLiteral("P %1, %2, %3 task").arg(what, pathLabel(path), taskName(task)),
            floorFor(task, path), n, task, path, [make, task] { return make(task); },
            [name, verify](const auto &parts, qint64 n, qint64 ok, QJsonObject &checks) {
                require(ok == n, name);
                checks.insert(QStringLiteral("all_ok"), true);
                verify(parts, n, checks);
            });
}

Variant retried(Path path, qint64 n)
{
    return policy(
            "retry", QStringLiteral("retry(rule), first attempt succeeds"), path, n,
            [](Task task) { return std::make_tuple(kompoz::retry(ruleFor(task))); },
            [](const auto &parts, qint64, QJsonObject &checks) {
                const kompoz::RetryPolicy *p = std::get<0>(parts).policy();
                require(p->retryCount() == 0 && p->exhaustedCount() == 0, "P.retry: no retry");
                checks.insert(QStringLiteral("retries"), p->retryCount());
            });
}

//! fallback(rule, alt): `innerFails` picks a rule that fails, so the alternative runs each time.
Variant fellBack(Path path, qint64 n, bool innerFails)
{
    return policy(
            innerFails ? "fallbackAlt" : "fallback",
            innerFails ? QStringLiteral("fallback(failing rule, alt), alt runs")
                       : QStringLiteral("fallback(rule, alt), rule succeeds"),
            path, n,
            [innerFails](Task task) {
                return std::make_tuple(kompoz::fallback(
                        innerFails ? failingRule(task) : ruleFor(task), ruleFor(task)));
            },
            [innerFails](const auto &parts, qint64 n, QJsonObject &checks) {
                const kompoz::FallbackPolicy *p = std::get<0>(parts).policy();
                require(p->fallbackCount() == (innerFails ? n : 0) && p->errorFallbackCount() == 0,
                        "P.fallback: fallback count");
                checks.insert(QStringLiteral("fallbacks"), p->fallbackCount());
            });
}

Variant hedgedReady(Path path, qint64 n)
{
    return policy(
            "hedged", QStringLiteral("hedged(rule, 1s, 1), first attempt done at once"), path, n,
            [](Task task) { return std::make_tuple(kompoz::hedged(ruleFor(task), 1s, 1)); },
            [](const auto &parts, qint64, QJsonObject &checks) {
                const kompoz::HedgingPolicy *p = std::get<0>(parts).policy();
                require(p->hedgeCount() == 0, "P.hedged: no hedge started");
                checks.insert(QStringLiteral("hedges"), p->hedgeCount());
            });
}

Variant rateLimitedOpen(Path path, qint64 n)
{
    // A bucket of a billion tokens: every run finds one, none waits.
    constexpr int Permits = 1000000000;
    return policy(
            "rateLimited", QStringLiteral("rateLimited(rule, 1e9 per s), never waits"), path, n,
            [](Task task) {
                return std::make_tuple(kompoz::rateLimited(ruleFor(task), Permits, 1s));
            },
            [](const auto &parts, qint64 n, QJsonObject &checks) {
                const kompoz::RateLimiter *l = std::get<0>(parts).limiter();
                require(l->admittedCount() == n && l->delayedCount() == 0 &&
                                l->rejectedCount() == 0,
                        "P.rateLimited: all admitted at once");
                checks.insert(QStringLiteral("admitted"), l->admittedCount());
                checks.insert(QStringLiteral("delayed"), l->delayedCount());
            });
}

Variant ratioBreaker(Path path, qint64 n)
{
    return policy(
            "breakerRatio",
            QStringLiteral(
                    "circuitBreaker(rule, failure ratio 0.5 over 100 calls, min 10), closed"),
            path, n,
            [](Task task) {
                kompoz::CircuitBreakerOptions o;
                o.failureRatio = 0.5;
                o.window = kompoz::CircuitBreakerOptions::WindowKind::Count;
                o.windowSize = 100;
                o.minimumThroughput = 10;
                return std::make_tuple(kompoz::circuitBreaker(ruleFor(task), o));
            },
            [](const auto &parts, qint64, QJsonObject &checks) {
                const auto &c = std::get<0>(parts);
                require(c.state() == kompoz::CircuitState::Closed &&
                                c.breaker()->failureRatio() == 0,
                        "P.breakerRatio: closed, no failure");
                checks.insert(QStringLiteral("breaker_state"), kompoz::toString(c.state()));
            });
}

} // namespace

std::vector<Variant> policiesGroup(qint64 n)
{
    std::vector<Variant> out {floorPlain(n), floorReady(n)};
    for (Path path : {Path::Callback, Path::Future}) {
        out.push_back(retried(path, n));
        out.push_back(fellBack(path, n, false));
        out.push_back(fellBack(path, n, true));
        out.push_back(hedgedReady(path, n));
        out.push_back(rateLimitedOpen(path, n));
        out.push_back(ratioBreaker(path, n));
    }
    return out;
}

} // namespace bench
