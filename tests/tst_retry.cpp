// SPDX-License-Identifier: MIT
// Retry: attempts, contexts, exceptions, delays on the timer service (never a sleeping thread),
// the delay formulas (exponential, jitter, cap, decorrelated), the predicate, cancellation,
// the policy's counts and signals, bad arguments.

#include <kompoz/kompoz.h>

#include "kompoztest.h"

#include <QElapsedTimer>
#include <QSignalSpy>
#include <QtTest/QtTest>

#include <atomic>
#include <stdexcept>

using namespace std::chrono_literals;
using kompoz::Completion;
using kompoz::Outcome;
using kompoz::Result;
using kompoz::RetryResult;
using kompoztest::Tasks;

namespace {

//! A rule that fails (or throws) its first `failures` calls, then passes.
struct Flaky
{
    std::atomic<int> calls {0};
    int failures = 0;
    bool throws = false;
    kompoz::AsyncCombinator<int> rule()
    {
        return kompoz::asyncRule<int>(
                [this](int) {
                    const int n = ++calls;
                    if (n <= failures) {
                        if (throws)
                            throw std::runtime_error("flaky threw");
                        return false;
                    }
                    return true;
                },
                QStringLiteral("flaky"));
    }
};

template<typename X>
X waitResult(const QFuture<X> &f)
{
    if (!kompoztest::waitFor(f))
        throw std::runtime_error("run did not finish");
    return f.result();
}

} // namespace

class tst_Retry : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init() { m_watchdog.arm(); }
    void cleanup() { m_watchdog.disarm(); }

    void attempts_data();
    void attempts();
    void exceptionsAreRetriedAndSwallowed();
    void eachAttemptRunsOnThePreviousContext();
    void zeroBackoffDoesNotRecurseOrUseTimers();
    void backoffWaitsOnTheTimerService();
    void delays_data();
    void delays();
    void onRetryArguments();
    void predicateDecides();
    void predicateDeclinesException();
    void retriesTimeouts();
    void cancelDuringDelayStopsAttempts();
    void cancelDuringAttemptCancelsTask();
    void runWithInfoCanceled();
    void policyCountsAndSignals();
    void callbackPath();
    void composes();
    void repr();
    void badArguments_data();
    void badArguments();
    void runsDoNotLeak();

private:
    kompoztest::Watchdog m_watchdog;
};

void tst_Retry::attempts_data()
{
    QTest::addColumn<int>("failures");
    QTest::addColumn<int>("maxAttempts");
    QTest::addColumn<bool>("ok");
    QTest::addColumn<int>("attemptsMade");
    QTest::newRow("first time") << 0 << 3 << true << 1;
    QTest::newRow("second time") << 1 << 3 << true << 2;
    QTest::newRow("last chance") << 2 << 3 << true << 3;
    QTest::newRow("exhausted") << 3 << 3 << false << 3;
    QTest::newRow("one attempt only") << 1 << 1 << false << 1;
}

void tst_Retry::attempts()
{
    QFETCH(int, failures);
    QFETCH(int, maxAttempts);
    QFETCH(bool, ok);
    QFETCH(int, attemptsMade);
    Flaky flaky;
    flaky.failures = failures;
    auto r = kompoz::retry(flaky.rule(), maxAttempts);
    const RetryResult<int> info = waitResult(r.runWithInfo(7));
    QCOMPARE(info.ok, ok);
    QCOMPARE(info.ctx, 7);
    QCOMPARE(info.attemptsMade, attemptsMade);
    QVERIFY(!info.lastError);
    QCOMPARE(flaky.calls.load(), attemptsMade);
    // run() gives the same verdict.
    flaky.calls = 0;
    QCOMPARE(waitResult(r.run(7)).ok, ok);
}

void tst_Retry::exceptionsAreRetriedAndSwallowed()
{
    Flaky flaky;
    flaky.failures = 2;
    flaky.throws = true;
    QCOMPARE(waitResult(kompoz::retry(flaky.rule(), 3).run(1)).ok, true);
    QCOMPARE(flaky.calls.load(), 3);

    // Used up: {false, ctx} as kompoz's AsyncRetry, the exception in lastError only.
    Flaky always;
    always.failures = 100;
    always.throws = true;
    auto r = kompoz::retry(always.rule(), 2);
    QFuture<Result<int>> f = r.run(5);
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(kompoztest::exceptionMessage(f), QString());
    QCOMPARE(f.result().ok, false);
    QCOMPARE(f.result().ctx, 5);
    const RetryResult<int> info = waitResult(r.runWithInfo(5));
    QCOMPARE(info.attemptsMade, 2);
    QVERIFY(info.lastError);
    try {
        std::rethrow_exception(info.lastError);
    } catch (const std::runtime_error &e) {
        QCOMPARE(QString::fromUtf8(e.what()), QStringLiteral("flaky threw"));
    }

    // A failed verdict after an exception: lastError is the last attempt's (none).
    std::atomic<int> n {0};
    auto mixed = kompoz::asyncRule<int>([&n](int) -> bool {
        if (++n == 1)
            throw std::runtime_error("first");
        return false;
    });
    QVERIFY(!waitResult(kompoz::retry(mixed, 2).runWithInfo(0)).lastError);
}

void tst_Retry::eachAttemptRunsOnThePreviousContext()
{
    // Each attempt adds one, and passes once the context reaches 3 (kompoz's last_ctx).
    auto step = kompoz::asyncPipe<int>([](int x) { return x + 1; }) &
            kompoz::asyncRule<int>([](int x) { return x >= 3; });
    const RetryResult<int> info = waitResult(kompoz::retry(step, 5).runWithInfo(0));
    QCOMPARE(info.ok, true);
    QCOMPARE(info.ctx, 3);
    QCOMPARE(info.attemptsMade, 3);

    const RetryResult<int> out = waitResult(kompoz::retry(step, 2).runWithInfo(0));
    QCOMPARE(out.ok, false);
    QCOMPARE(out.ctx, 2);
}

void tst_Retry::zeroBackoffDoesNotRecurseOrUseTimers()
{
    Flaky flaky;
    flaky.failures = 1 << 30;
    const int before = kompoz::detail::TimerService::instance().pendingTimers();
    auto r = kompoz::retry(flaky.rule(), 100000);
    QFuture<RetryResult<int>> f = r.runWithInfo(0);
    QVERIFY(f.isFinished()); // every attempt finished at once: no timer, no thread hop
    QCOMPARE(f.result().attemptsMade, 100000);
    QCOMPARE(kompoz::detail::TimerService::instance().pendingTimers(), before);
    QCOMPARE(r.policy()->retryCount(), 99999);
    QCOMPARE(r.policy()->exhaustedCount(), 1);
}

void tst_Retry::backoffWaitsOnTheTimerService()
{
    Flaky flaky;
    flaky.failures = 2;
    auto r = kompoz::retry(flaky.rule(), 3, 40ms);
    QElapsedTimer t;
    t.start();
    QFuture<Result<int>> f = r.run(0);
    QVERIFY(t.elapsed() < 40); // run() does not wait for the delay
    QVERIFY(!f.isFinished());
    QCOMPARE(flaky.calls.load(), 1);
    // Also finishes while this thread is blocked: the delays are the timer thread's.
    f.waitForFinished();
    QVERIFY2(t.elapsed() >= 79, qPrintable(QString::number(t.elapsed())));
    QVERIFY(t.elapsed() < 10000);
    QCOMPARE(f.result().ok, true);
    QCOMPARE(flaky.calls.load(), 3);
}

void tst_Retry::delays_data()
{
    QTest::addColumn<qint64>("backoffMs");
    QTest::addColumn<bool>("exponential");
    QTest::addColumn<qint64>("jitterMs");
    QTest::addColumn<qint64>("maxDelayMs");
    QTest::addColumn<bool>("decorrelated");
    QTest::addColumn<double>("random");
    QTest::addColumn<QList<qint64>>("expectedMs");
    QTest::newRow("none") << 0LL << false << 0LL << 0LL << false << 0.5 << QList<qint64> {0, 0, 0};
    QTest::newRow("constant") << 10LL << false << 0LL << 0LL << false << 0.5
                              << QList<qint64> {10, 10, 10};
    QTest::newRow("exponential") << 10LL << true << 0LL << 0LL << false << 0.5
                                 << QList<qint64> {10, 20, 40};
    QTest::newRow("jitter") << 10LL << false << 8LL << 0LL << false << 0.5
                            << QList<qint64> {14, 14, 14};
    QTest::newRow("jitter alone") << 0LL << false << 8LL << 0LL << false << 0.25
                                  << QList<qint64> {2, 2, 2};
    QTest::newRow("capped") << 10LL << true << 0LL << 25LL << false << 0.5
                            << QList<qint64> {10, 20, 25};
    QTest::newRow("cap includes jitter")
            << 10LL << false << 100LL << 30LL << false << 0.9 << QList<qint64> {30, 30, 30};
    // Decorrelated: uniform in [base, 3 * previous]; with random 1 it triples each time.
    QTest::newRow("decorrelated high")
            << 10LL << false << 0LL << 0LL << true << 1.0 << QList<qint64> {30, 90, 270};
    QTest::newRow("decorrelated low")
            << 10LL << false << 0LL << 0LL << true << 0.0 << QList<qint64> {10, 10, 10};
    QTest::newRow("decorrelated capped")
            << 10LL << false << 0LL << 100LL << true << 1.0 << QList<qint64> {30, 90, 100};
}

void tst_Retry::delays()
{
    QFETCH(qint64, backoffMs);
    QFETCH(bool, exponential);
    QFETCH(qint64, jitterMs);
    QFETCH(qint64, maxDelayMs);
    QFETCH(bool, decorrelated);
    QFETCH(double, random);
    QFETCH(QList<qint64>, expectedMs);

    // The delays are read from onRetry; they are short enough to wait for end to end.
    QList<qint64> seen;
    QMutex mutex;
    kompoz::RetryOptions<int> o;
    o.maxAttempts = 4;
    o.backoff = std::chrono::milliseconds(backoffMs);
    o.exponential = exponential;
    o.jitter = std::chrono::milliseconds(jitterMs);
    o.maxDelay = std::chrono::milliseconds(maxDelayMs);
    o.decorrelatedJitter = decorrelated;
    o.random = [random] { return random; };
    o.onRetry = [&](int, std::exception_ptr, std::chrono::nanoseconds d) {
        QMutexLocker lock(&mutex);
        seen.append(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
    };
    auto r = kompoz::retry(kompoz::asyncRule<int>([](int) { return false; }), o);
    const RetryResult<int> info = waitResult(r.runWithInfo(0));
    QCOMPARE(info.attemptsMade, 4);
    QMutexLocker lock(&mutex);
    QCOMPARE(seen, expectedMs);
}

void tst_Retry::onRetryArguments()
{
    Flaky flaky;
    flaky.failures = 2;
    flaky.throws = true;
    QList<int> attempts;
    int errors = 0;
    auto r = kompoz::retry(flaky.rule(), 5, 0ms, false, 0ms,
                           [&](int attempt, std::exception_ptr e, std::chrono::nanoseconds d) {
                               attempts.append(attempt);
                               errors += e ? 1 : 0;
                               QCOMPARE(d.count(), 0);
                           });
    QVERIFY(waitResult(r.run(0)).ok);
    QCOMPARE(attempts, (QList<int> {1, 2}));
    QCOMPARE(errors, 2);

    // An onRetry that throws is logged and ignored.
    Flaky again;
    again.failures = 1;
    auto throwing = kompoz::retry(again.rule(), 2, 0ms, false, 0ms,
                                  [](int, std::exception_ptr, std::chrono::nanoseconds) {
                                      throw std::runtime_error("hook");
                                  });
    QTest::ignoreMessage(QtWarningMsg, "retry: onRetry threw (hook); the exception was dropped");
    QVERIFY(waitResult(throwing.run(0)).ok);
}

void tst_Retry::predicateDecides()
{
    // An open breaker's rejection is not worth retrying; a plain failure is.
    auto breaker = kompoz::circuitBreaker(kompoz::asyncRule<int>([](int) { return false; }), 1);
    QVERIFY(!waitResult(breaker.run(0)).ok); // opens it
    kompoz::RetryOptions<int> o;
    o.maxAttempts = 5;
    o.retryIf = [](const Completion<int> &c) { return c.outcome != Outcome::Rejected; };
    auto r = kompoz::retry<int>(breaker, o);
    const RetryResult<int> info = waitResult(r.runWithInfo(0));
    QCOMPARE(info.attemptsMade, 1);
    QCOMPARE(info.ok, false);
    QCOMPARE(breaker.stats().rejectedCount, 1);

    Flaky flaky;
    flaky.failures = 2;
    o.retryIf = [](const Completion<int> &c) { return c.outcome == Outcome::Failure; };
    QCOMPARE(waitResult(kompoz::retry(flaky.rule(), o).runWithInfo(0)).attemptsMade, 3);
}

void tst_Retry::predicateDeclinesException()
{
    Flaky flaky;
    flaky.failures = 5;
    flaky.throws = true;
    kompoz::RetryOptions<int> o;
    o.maxAttempts = 5;
    o.retryIf = [](const Completion<int> &c) { return c.outcome != Outcome::Error; };
    auto r = kompoz::retry(flaky.rule(), o);
    QFuture<Result<int>> f = r.run(0);
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(kompoztest::exceptionMessage(f), QStringLiteral("flaky threw"));
    QCOMPARE(flaky.calls.load(), 1);

    // runWithInfo never throws: the exception is in lastError.
    const RetryResult<int> info = waitResult(r.runWithInfo(0));
    QCOMPARE(info.attemptsMade, 1);
    QVERIFY(info.lastError);

    // A predicate that throws ends the run with its exception.
    o.retryIf = [](const Completion<int> &) -> bool { throw std::logic_error("predicate"); };
    QFuture<Result<int>> g = kompoz::retry(flaky.rule(), o).run(0);
    QVERIFY(kompoztest::waitFor(g));
    QCOMPARE(kompoztest::exceptionMessage(g), QStringLiteral("predicate"));
}

void tst_Retry::retriesTimeouts()
{
    Tasks<bool> tasks;
    auto r = kompoz::retry(kompoz::withTimeout(kompoz::asyncRule<int>(tasks.fn()), 20ms), 3);
    QFuture<Result<int>> f = r.run(0);
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(f.result().ok, false);
    QCOMPARE(tasks.started(), 3);
    QCOMPARE(tasks.canceled(), 3); // each timed-out attempt's work was cancelled
    // Exhausted on timeouts: the completion says TimedOut.
    Outcome seen = Outcome::Success;
    std::atomic<bool> done {false};
    r.run(0, [&](const Completion<int> &c) {
        seen = c.outcome;
        done = true;
    });
    QVERIFY(kompoztest::waitUntil([&] { return done.load(); }));
    QCOMPARE_ENUM(seen, Outcome::TimedOut);
}

void tst_Retry::cancelDuringDelayStopsAttempts()
{
    Flaky flaky;
    flaky.failures = 100;
    auto r = kompoz::retry(flaky.rule(), 5, 10s);
    QFuture<Result<int>> f = r.run(0);
    QCOMPARE(flaky.calls.load(), 1);
    QVERIFY(!f.isFinished());
    f.cancel();
    QVERIFY(kompoztest::waitFor(f, 5000)); // noticed by the sweep, long before the delay ends
    QCOMPARE(f.resultCount(), 0);
    QCOMPARE(flaky.calls.load(), 1);

    // On the callback path the cancellation acts at once, and the delay's timer is removed.
    const int before = kompoz::detail::TimerService::instance().pendingTimers();
    std::atomic<int> canceled {0};
    kompoz::RunHandle h = r.run(0, [&](const Completion<int> &c) {
        canceled += c.outcome == Outcome::Canceled ? 1 : 0;
    });
    QVERIFY(h.isPending());
    QCOMPARE(kompoz::detail::TimerService::instance().pendingTimers(), before + 1);
    h.cancel();
    QCOMPARE(canceled.load(), 1);
    QCOMPARE(kompoz::detail::TimerService::instance().pendingTimers(), before);
    QCOMPARE(flaky.calls.load(), 2);
}

void tst_Retry::cancelDuringAttemptCancelsTask()
{
    Tasks<bool> tasks;
    auto r = kompoz::retry(kompoz::asyncRule<int>(tasks.fn()), 5);
    QFuture<Result<int>> f = r.run(0);
    QVERIFY(tasks.waitForStarted(1));
    tasks.finish(0, false); // the first attempt fails: the second starts at once
    QCOMPARE(tasks.started(), 2);
    f.cancel();
    QVERIFY(kompoztest::waitFor(f, 5000));
    QVERIFY(tasks.isCanceled(1));
    QTest::qWait(50);
    QCOMPARE(tasks.started(), 2);
}

void tst_Retry::runWithInfoCanceled()
{
    Tasks<bool> tasks;
    auto r = kompoz::retry(kompoz::asyncRule<int>(tasks.fn()), 5);
    QFuture<RetryResult<int>> f = r.runWithInfo(0);
    QVERIFY(tasks.waitForStarted(1));
    f.cancel();
    QVERIFY(kompoztest::waitFor(f, 5000));
    QCOMPARE(f.resultCount(), 0);
    QVERIFY(tasks.isCanceled(0));
}

void tst_Retry::policyCountsAndSignals()
{
    Flaky flaky;
    flaky.failures = 3;
    auto r = kompoz::retry(flaky.rule(), 2);
    kompoz::RetryPolicy *p = r.policy();
    QCOMPARE(p->maxAttempts(), 2);
    QCOMPARE(p->property("maxAttempts").toInt(), 2);
    QSignalSpy retries(p, &kompoz::RetryPolicy::retryCountChanged);
    QSignalSpy exhausted(p, &kompoz::RetryPolicy::exhaustedCountChanged);
    QSignalSpy recovered(p, &kompoz::RetryPolicy::recoveredCountChanged);
    QSignalSpy retrying(p, &kompoz::RetryPolicy::retrying);
    QVERIFY(retries.isValid() && exhausted.isValid() && recovered.isValid());
    QVERIFY(!waitResult(r.run(0)).ok); // calls 1, 2: exhausted
    QVERIFY(waitResult(r.run(0)).ok); // calls 3 (fails), 4: recovered
    QCOMPARE(p->retryCount(), 2);
    QCOMPARE(p->exhaustedCount(), 1);
    QCOMPARE(p->recoveredCount(), 1);
    QCOMPARE(retrying.count(), 2);
    QCOMPARE(retrying.at(0).at(0).toInt(), 1);
    // Announced coalesced, in this thread.
    QTRY_COMPARE(retries.count(), 1);
    QCOMPARE(retries.last().at(0).toInt(), 2);
    QCOMPARE(exhausted.count(), 1);
    QCOMPARE(recovered.count(), 1);
    QCOMPARE(p->property("retryCount").toInt(), 2);
}

void tst_Retry::callbackPath()
{
    Flaky flaky;
    flaky.failures = 1;
    auto r = kompoz::retry(flaky.rule(), 2);
    std::optional<Completion<int>> got;
    kompoz::RunHandle h = r.run(9, [&](const Completion<int> &c) { got = c; });
    QVERIFY(!h.isPending());
    QVERIFY(got);
    QCOMPARE_ENUM(got->outcome, Outcome::Success);
    QCOMPARE(got->result.ctx, 9);
}

void tst_Retry::composes()
{
    Flaky flaky;
    flaky.failures = 1;
    auto ok = kompoz::asyncRule<int>([](int) { return true; });
    auto chain = ok & kompoz::retry(flaky.rule(), 2) & ok;
    QVERIFY(waitResult(chain.run(0)).ok);
    // Retry of a breaker, breaker of a retry, limiter and timeout around it.
    Flaky inner;
    inner.failures = 2;
    auto guarded = kompoz::circuitBreaker(
            kompoz::withTimeout(kompoz::limited(kompoz::retry(inner.rule(), 3, 1ms), 1), 5s), 5);
    QVERIFY(waitResult(guarded.run(0)).ok);
    QCOMPARE(guarded.stats().successCount, 1);
}

void tst_Retry::repr()
{
    auto rule = kompoz::asyncRule<int>([](int) { return true; }, QStringLiteral("ping"));
    QCOMPARE(kompoz::retry(rule, 3).repr(),
             QStringLiteral("AsyncRetry(AsyncPredicate(ping), max_attempts=3)"));
    QCOMPARE(kompoz::retry(rule, 4, 1500ms, true, 100ms).repr(),
             QStringLiteral("AsyncRetry(AsyncPredicate(ping), max_attempts=4, backoff=1.5, "
                            "exponential=True, jitter=0.1)"));
}

void tst_Retry::badArguments_data()
{
    QTest::addColumn<int>("which");
    QTest::addColumn<QString>("parameter");
    QTest::newRow("maxAttempts 0") << 0 << QStringLiteral("maxAttempts");
    QTest::newRow("negative backoff") << 1 << QStringLiteral("backoff");
    QTest::newRow("negative jitter") << 2 << QStringLiteral("jitter");
    QTest::newRow("negative maxDelay") << 3 << QStringLiteral("maxDelay");
    QTest::newRow("decorrelated without backoff") << 4 << QStringLiteral("backoff");
    QTest::newRow("empty inner") << 5 << QStringLiteral("inner");
    QTest::newRow("options: maxAttempts -1") << 6 << QStringLiteral("maxAttempts");
}

void tst_Retry::badArguments()
{
    QFETCH(int, which);
    QFETCH(QString, parameter);
    auto rule = kompoz::asyncRule<int>([](int) { return true; });
    const QString message = kompoztest::invalidArgumentMessage([&] {
        kompoz::RetryOptions<int> o;
        switch (which) {
        case 0:
            kompoz::retry(rule, 0);
            break;
        case 1:
            kompoz::retry(rule, 3, -1ms);
            break;
        case 2:
            kompoz::retry(rule, 3, 0ms, false, -1ms);
            break;
        case 3:
            o.maxDelay = -1ms;
            kompoz::retry(rule, o);
            break;
        case 4:
            o.decorrelatedJitter = true;
            kompoz::retry(rule, o);
            break;
        case 5:
            kompoz::retry(kompoz::AsyncCombinator<int>(), 3);
            break;
        case 6:
            o.maxAttempts = -1;
            kompoz::retry(rule, o);
            break;
        }
    });
    QVERIFY2(message.contains(parameter), qPrintable(message));
    QVERIFY(message.contains(QStringLiteral("retry")));
}

void tst_Retry::runsDoNotLeak()
{
    using kompoztest::Counted;
    const int before = Counted::live();
    {
        Tasks<bool, Counted> tasks;
        auto rule = kompoz::asyncRule<Counted>(tasks.fn());
        auto r = kompoz::retry(rule, 3, 1ms);
        QFuture<Result<Counted>> a = r.run(Counted(1));
        QVERIFY(tasks.waitForStarted(1));
        tasks.finish(0, false);
        QVERIFY(tasks.waitForStarted(2));
        tasks.finish(1, true);
        QVERIFY(kompoztest::waitFor(a));
        QFuture<Result<Counted>> b = r.run(Counted(2));
        QVERIFY(tasks.waitForStarted(3));
        b.cancel();
        QVERIFY(kompoztest::waitFor(b));
        kompoz::RunHandle h = r.run(Counted(3), [](const Completion<Counted> &) {});
        QVERIFY(tasks.waitForStarted(4));
        tasks.finish(3, false); // now waiting 1 ms for the next attempt
        h.cancel();
    }
    QVERIFY(kompoztest::waitUntil([&] { return Counted::live() == before; }));
}

QTEST_GUILESS_MAIN(tst_Retry)
#include "tst_retry.moc"
