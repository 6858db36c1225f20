// SPDX-License-Identifier: MIT
// Fallback: when the alternative runs (failure, timeout, rejection, exception), on which
// context, what runWithInfo() says, its counts and signal, cancellation, bad arguments.

#include <kompoz/kompoz.h>

#include "kompoztest.h"

#include <QSignalSpy>
#include <QtTest/QtTest>

#include <atomic>
#include <stdexcept>

using namespace std::chrono_literals;
using kompoz::Completion;
using kompoz::FallbackResult;
using kompoz::Outcome;
using kompoz::Result;
using kompoztest::Tasks;

namespace {

template<typename X>
X waitResult(const QFuture<X> &f)
{
    if (!kompoztest::waitFor(f))
        throw std::runtime_error("run did not finish");
    return f.result();
}

//! An alternative that records the context it ran on and passes, adding 100.
struct Alternative
{
    std::atomic<int> calls {0};
    std::atomic<int> seen {-1};
    kompoz::AsyncCombinator<int> pipe()
    {
        return kompoz::asyncPipe<int>(
                [this](int x) {
                    ++calls;
                    seen = x;
                    return x + 100;
                },
                QStringLiteral("cache"));
    }
};

kompoz::AsyncCombinator<int> fails()
{
    return kompoz::asyncRule<int>([](int) { return false; });
}
kompoz::AsyncCombinator<int> passes()
{
    return kompoz::asyncRule<int>([](int) { return true; });
}
kompoz::AsyncCombinator<int> throws()
{
    return kompoz::asyncRule<int>([](int) -> bool { throw std::runtime_error("inner threw"); });
}

} // namespace

class tst_Fallback : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init() { m_watchdog.arm(); }
    void cleanup() { m_watchdog.disarm(); }

    void successSkipsAlternative();
    void failureRunsAlternativeOnOutput();
    void exceptionRunsAlternativeOnInput();
    void timeoutAndRejectionAreReasons();
    void alternativeThrows();
    void cancelRunsNothingMore();
    void countsAndSignal();
    void callbackPath();
    void composes();
    void repr();
    void badArguments();

private:
    kompoztest::Watchdog m_watchdog;
};

void tst_Fallback::successSkipsAlternative()
{
    Alternative alt;
    auto f = kompoz::fallback(passes(), alt.pipe());
    const FallbackResult<int> r = waitResult(f.runWithInfo(1));
    QVERIFY(r.ok);
    QCOMPARE(r.ctx, 1);
    QVERIFY(!r.usedFallback);
    QCOMPARE_ENUM(r.reason, Outcome::Success);
    QCOMPARE(alt.calls.load(), 0);
    QCOMPARE(f.policy()->fallbackCount(), 0);
}

void tst_Fallback::failureRunsAlternativeOnOutput()
{
    Alternative alt;
    auto inner = kompoz::asyncPipe<int>([](int x) { return x + 1; }) & fails();
    auto f = kompoz::fallback(inner, alt.pipe());
    const FallbackResult<int> r = waitResult(f.runWithInfo(1));
    QVERIFY(r.ok);
    QVERIFY(r.usedFallback);
    QCOMPARE_ENUM(r.reason, Outcome::Failure);
    QVERIFY(!r.innerError);
    QCOMPARE(alt.seen.load(), 2); // the inner run's output, as `|` would
    QCOMPARE(r.ctx, 102);
    QCOMPARE(waitResult(f.run(1)).ctx, 102);
}

void tst_Fallback::exceptionRunsAlternativeOnInput()
{
    Alternative alt;
    // `|` lets the exception through ...
    QFuture<Result<int>> bar = (throws() | alt.pipe()).run(5);
    QVERIFY(kompoztest::waitFor(bar));
    QCOMPARE(kompoztest::exceptionMessage(bar), QStringLiteral("inner threw"));
    QCOMPARE(alt.calls.load(), 0);
    // ... fallback() catches it.
    auto f = kompoz::fallback(throws(), alt.pipe());
    QFuture<Result<int>> plain = f.run(5);
    QVERIFY(kompoztest::waitFor(plain));
    QCOMPARE(kompoztest::exceptionMessage(plain), QString());
    QCOMPARE(plain.result().ctx, 105);
    const FallbackResult<int> r = waitResult(f.runWithInfo(5));
    QVERIFY(r.ok);
    QVERIFY(r.usedFallback);
    QCOMPARE_ENUM(r.reason, Outcome::Error);
    QVERIFY(r.innerError);
    QCOMPARE(alt.seen.load(), 5); // the input: the inner run gave no output
    QCOMPARE(f.policy()->errorFallbackCount(), 2);
}

void tst_Fallback::timeoutAndRejectionAreReasons()
{
    Alternative alt;
    Tasks<bool> tasks;
    auto slow = kompoz::withTimeout(kompoz::asyncRule<int>(tasks.fn()), 20ms);
    const FallbackResult<int> t = waitResult(kompoz::fallback(slow, alt.pipe()).runWithInfo(0));
    QCOMPARE_ENUM(t.reason, Outcome::TimedOut);
    QVERIFY(t.ok);
    QVERIFY(tasks.isCanceled(0));

    auto breaker = kompoz::circuitBreaker(fails(), 1);
    QVERIFY(!waitResult(breaker.run(0)).ok);
    const FallbackResult<int> b = waitResult(kompoz::fallback(breaker, alt.pipe()).runWithInfo(0));
    QCOMPARE_ENUM(b.reason, Outcome::Rejected);
    QVERIFY(b.ok);
}

void tst_Fallback::alternativeThrows()
{
    auto f = kompoz::fallback(fails(), throws());
    QFuture<Result<int>> plain = f.run(0);
    QVERIFY(kompoztest::waitFor(plain));
    QCOMPARE(kompoztest::exceptionMessage(plain), QStringLiteral("inner threw"));
    const FallbackResult<int> r = waitResult(f.runWithInfo(0)); // never throws
    QVERIFY(!r.ok);
    QVERIFY(r.usedFallback);
    QVERIFY(r.innerError);
}

void tst_Fallback::cancelRunsNothingMore()
{
    Tasks<bool> tasks;
    Alternative alt;
    auto f = kompoz::fallback(kompoz::asyncRule<int>(tasks.fn()), alt.pipe());
    QFuture<Result<int>> run = f.run(0);
    QVERIFY(tasks.waitForStarted(1));
    run.cancel();
    QVERIFY(kompoztest::waitFor(run, 5000));
    QCOMPARE(run.resultCount(), 0);
    QVERIFY(tasks.isCanceled(0));
    QCOMPARE(alt.calls.load(), 0);
    QCOMPARE(f.policy()->fallbackCount(), 0);

    QFuture<FallbackResult<int>> info = f.runWithInfo(0);
    QVERIFY(tasks.waitForStarted(2));
    info.cancel();
    QVERIFY(kompoztest::waitFor(info, 5000));
    QCOMPARE(info.resultCount(), 0);
}

void tst_Fallback::countsAndSignal()
{
    Alternative alt;
    auto f = kompoz::fallback(fails(), alt.pipe());
    QSignalSpy count(f.policy(), &kompoz::FallbackPolicy::fallbackCountChanged);
    QSignalSpy fell(f.policy(), &kompoz::FallbackPolicy::fellBack);
    QVERIFY(count.isValid() && fell.isValid());
    waitResult(f.run(0));
    waitResult(f.run(0));
    QCOMPARE(f.policy()->fallbackCount(), 2);
    QCOMPARE(fell.count(), 2);
    QCOMPARE_ENUM(fell.at(0).at(0).value<kompoz::Outcome>(), Outcome::Failure);
    QTRY_COMPARE(count.count(), 1);
    QCOMPARE(count.last().at(0).toInt(), 2);
    QCOMPARE(f.policy()->property("fallbackCount").toInt(), 2);
}

void tst_Fallback::callbackPath()
{
    Alternative alt;
    std::optional<Completion<int>> got;
    kompoz::fallback(throws(), alt.pipe()).run(1, [&](const Completion<int> &c) { got = c; });
    QVERIFY(got);
    QCOMPARE_ENUM(got->outcome, Outcome::Success);
    QCOMPARE(got->result.ctx, 101);
}

void tst_Fallback::composes()
{
    Alternative alt;
    auto chain = passes() & kompoz::fallback(fails(), alt.pipe()) & passes();
    QCOMPARE(waitResult(chain.run(0)).ctx, 100);
    // Fallback of a fallback, around a retry.
    auto nested = kompoz::fallback(kompoz::fallback(throws(), kompoz::retry(fails(), 2)),
                                   alt.pipe());
    QCOMPARE(waitResult(nested.run(1)).ctx, 101);
}

void tst_Fallback::repr()
{
    Alternative alt;
    QCOMPARE(kompoz::fallback(
                     kompoz::asyncRule<int>([](int) { return true; }, QStringLiteral("live")),
                     alt.pipe())
                     .repr(),
             QStringLiteral("AsyncFallback(AsyncPredicate(live), AsyncTransform(cache))"));
}

void tst_Fallback::badArguments()
{
    QString m = kompoztest::invalidArgumentMessage(
            [] { kompoz::fallback(kompoz::AsyncCombinator<int>(), passes()); });
    QVERIFY2(m.contains(QStringLiteral("fallback")) && m.contains(QStringLiteral("inner")),
             qPrintable(m));
    m = kompoztest::invalidArgumentMessage(
            [] { kompoz::fallback(passes(), kompoz::AsyncCombinator<int>()); });
    QVERIFY2(m.contains(QStringLiteral("alternative")), qPrintable(m));
}

QTEST_GUILESS_MAIN(tst_Fallback)
#include "tst_fallback.moc"
