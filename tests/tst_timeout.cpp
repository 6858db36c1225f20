// SPDX-License-Identifier: MIT
// withTimeout / AsyncTimeout: the inner result in time, {false, ctx} or {false, onTimeout(ctx)}
// late, the inner future cancelled, the count, and firing while the caller is blocked.

#include <kompoz/kompoz.h>

#include "kompoztest.h"

#include <QSignalSpy>
#include <QtTest/QtTest>

#include <atomic>
#include <stdexcept>

using namespace std::chrono_literals;
using kompoz::Result;
using kompoztest::Tasks;

// onTimeout's type must not take part in deducing T (the contract's example must compile).
namespace {
[[maybe_unused]] void compileCheck(const kompoz::AsyncCombinator<int> &check)
{
    kompoz::AsyncTimeout<int> t = kompoz::withTimeout(check, 50ms, [](int ctx) { return ctx * 2; });
    kompoz::AsyncTimeout<int> u = kompoz::withTimeout(check, 2s);
    kompoz::AsyncTimeout<int> v = kompoz::withTimeout(check, std::chrono::duration<double>(0.5),
                                                      std::function<int(int)>());
    Q_UNUSED(t);
    Q_UNUSED(u);
    Q_UNUSED(v);
}
} // namespace

class tst_Timeout : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init() { m_watchdog.arm(); }
    void cleanup() { m_watchdog.disarm(); }

    void inTimeGivesInnerResult_data();
    void inTimeGivesInnerResult();
    void inTimeExceptionReachesCaller();
    void lateGivesFalseAndCancelsInner();
    void lateWithOnTimeout();
    void onTimeoutThrows();
    void timedOutTracksLastRun();
    void timedOutCountProperty();
    void firesWhileMainThreadBlocked();
    void lateResultIsDropped();
    void accessors();
    void repr_data();
    void repr();
    void badTimeouts_data();
    void badTimeouts();

private:
    kompoztest::Watchdog m_watchdog;
};

void tst_Timeout::inTimeGivesInnerResult_data()
{
    QTest::addColumn<bool>("verdict");
    QTest::addColumn<bool>("pending");
    QTest::newRow("pass, ready") << true << false;
    QTest::newRow("fail, ready") << false << false;
    QTest::newRow("pass, pending") << true << true;
    QTest::newRow("fail, pending") << false << true;
}

void tst_Timeout::inTimeGivesInnerResult()
{
    QFETCH(bool, verdict);
    QFETCH(bool, pending);
    Tasks<int> tasks;
    auto inner = kompoz::asyncPipe<int>([&](int x) {
                     return pending ? tasks.start(x) : kompoztest::ready(x + 1);
                 }) &
            kompoz::asyncRule<int>([verdict](int) { return verdict; });
    auto t = kompoz::withTimeout(inner, 30s);
    QFuture<Result<int>> f = t.run(1);
    if (pending) {
        QVERIFY(!f.isFinished());
        tasks.finish(0, 2);
    }
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(f.result().ok, verdict);
    QCOMPARE(f.result().ctx, 2); // unchanged inner output
    QVERIFY(!t.timedOut());
    QCOMPARE(t.policy()->timedOutCount(), 0);
}

void tst_Timeout::inTimeExceptionReachesCaller()
{
    Tasks<bool> tasks;
    auto t = kompoz::withTimeout(kompoz::asyncRule<int>(tasks.fn()), 30s);
    QFuture<Result<int>> f = t.run(1);
    tasks.fail(0, std::runtime_error("inner error"));
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(kompoztest::exceptionMessage(f), QStringLiteral("inner error"));
    QVERIFY(!t.timedOut());
}

void tst_Timeout::lateGivesFalseAndCancelsInner()
{
    Tasks<bool> tasks;
    auto t = kompoz::withTimeout(kompoz::asyncRule<int>(tasks.fn()), 50ms);
    QFuture<Result<int>> f = t.run(5);
    QVERIFY(!f.isFinished());
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(kompoztest::exceptionMessage(f), QString());
    QCOMPARE(f.result().ok, false);
    QCOMPARE(f.result().ctx, 5);
    QVERIFY(t.timedOut());
    QVERIFY(tasks.isCanceled(0)); // cooperative work can stop
}

void tst_Timeout::lateWithOnTimeout()
{
    Tasks<bool> tasks;
    std::atomic<int> calls {0};
    auto t = kompoz::withTimeout(kompoz::asyncRule<int>(tasks.fn()), 50ms, [&](int ctx) {
        ++calls;
        return ctx * 2;
    });
    QFuture<Result<int>> f = t.run(21);
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(f.result().ok, false);
    QCOMPARE(f.result().ctx, 42);
    QCOMPARE(calls.load(), 1);
    // In time: onTimeout is not called. (A long timeout for this run, so a slow machine
    // cannot make it late.)
    t.policy()->setTimeout(30s);
    QFuture<Result<int>> g = t.run(1);
    tasks.finish(1, true);
    QVERIFY(kompoztest::waitFor(g));
    QCOMPARE(g.result().ok, true);
    QCOMPARE(g.result().ctx, 1);
    QCOMPARE(calls.load(), 1);
}

void tst_Timeout::onTimeoutThrows()
{
    Tasks<bool> tasks;
    auto t = kompoz::withTimeout(kompoz::asyncRule<int>(tasks.fn()), 50ms,
                                 [](int) -> int { throw std::runtime_error("onTimeout broke"); });
    QFuture<Result<int>> f = t.run(1);
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(kompoztest::exceptionMessage(f), QStringLiteral("onTimeout broke"));
    QVERIFY(t.timedOut());
    QVERIFY(tasks.isCanceled(0));
}

void tst_Timeout::timedOutTracksLastRun()
{
    Tasks<bool> tasks;
    auto t = kompoz::withTimeout(kompoz::asyncRule<int>(tasks.fn()), 50ms);
    QVERIFY(!t.timedOut());
    QFuture<Result<int>> late = t.run(1);
    QVERIFY(kompoztest::waitFor(late));
    QVERIFY(t.timedOut());
    t.policy()->setTimeout(30s); // applies to runs started afterwards
    QFuture<Result<int>> inTime = t.run(2);
    tasks.finish(1, true);
    QVERIFY(kompoztest::waitFor(inTime));
    QVERIFY(!t.timedOut()); // kompoz's timed_out: the last run
}

void tst_Timeout::timedOutCountProperty()
{
    Tasks<bool> tasks;
    auto t = kompoz::withTimeout(kompoz::asyncRule<int>(tasks.fn()), 50ms);
    QObject *policy = t.policy();
    QSignalSpy countChanged(t.policy(), &kompoz::TimeoutPolicy::timedOutCountChanged);
    QVERIFY(countChanged.isValid());
    QList<QFuture<Result<int>>> futures {t.run(1), t.run(2)};
    for (auto &f : futures)
        QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(t.policy()->timedOutCount(), 2);
    QCOMPARE(policy->property("timedOutCount").toInt(), 2);
    QCOMPARE(policy->property("timedOut").toBool(), true);
    QCOMPARE(policy->property("timeoutMs").toLongLong(), 50);
    // Announced in the object's thread, coalesced: the last value is the count.
    QTRY_VERIFY(!countChanged.isEmpty() && countChanged.last().at(0).toInt() == 2);
    const QMetaProperty p = policy->metaObject()->property(
            policy->metaObject()->indexOfProperty("timedOutCount"));
    QCOMPARE(p.notifySignal(),
             QMetaMethod::fromSignal(&kompoz::TimeoutPolicy::timedOutCountChanged));
}

void tst_Timeout::firesWhileMainThreadBlocked()
{
    // The task never finishes, and this thread's event loop is not running: only the
    // library's timer thread can end the run.
    Tasks<bool> tasks;
    auto t = kompoz::withTimeout(kompoz::asyncRule<int>(tasks.fn()), 100ms);
    QFuture<Result<int>> f = t.run(3);
    f.waitForFinished(); // the watchdog fails the test if this never returns
    QCOMPARE(f.result().ok, false);
    QCOMPARE(f.result().ctx, 3);
    QVERIFY(tasks.isCanceled(0));

    // Also a timeout nested in composition, and a task whose future needs the blocked
    // thread's event loop (a then(this, ...) continuation) to finish.
    QPromise<bool> never;
    never.start();
    auto needsLoop = kompoz::asyncRule<int>(
            [&](int) { return never.future().then(this, [](bool b) { return b; }); });
    auto composed = kompoz::asyncRule<int>([](int) { return true; }) &
            kompoz::withTimeout(needsLoop, 100ms);
    QFuture<Result<int>> g = composed.run(4);
    g.waitForFinished();
    QCOMPARE(g.result().ok, false);
    QCOMPARE(g.result().ctx, 4);
    never.addResult(false); // lets the orphaned continuation run, with a result to read
    never.finish();
    QCoreApplication::processEvents();
}

void tst_Timeout::lateResultIsDropped()
{
    Tasks<bool> tasks;
    auto t = kompoz::withTimeout(kompoz::asyncRule<int>(tasks.fn()), 50ms);
    QFuture<Result<int>> f = t.run(1);
    QVERIFY(kompoztest::waitFor(f));
    tasks.finish(0, true); // too late: the run already ended
    QCOMPARE(f.resultCount(), 1);
    QCOMPARE(f.result().ok, false);
    QCOMPARE(t.policy()->timedOutCount(), 1);
}

void tst_Timeout::accessors()
{
    auto rule = kompoz::asyncRule<int>([](int) { return true; });
    auto t = kompoz::withTimeout(rule, 1500ms);
    QCOMPARE(t.timeout(), 1500ms);
    auto s = kompoz::withTimeout(rule, 2s);
    QCOMPARE(s.timeout(), 2000ms);
    auto copy = t; // copies share state
    QCOMPARE(copy.policy(), t.policy());
}

void tst_Timeout::repr_data()
{
    auto slow = kompoz::asyncRule<int>([](int) { return true; }, QStringLiteral("slow"));
    QTest::addColumn<QString>("repr");
    QTest::addColumn<QString>("expected");
    QTest::newRow("5 s") << kompoz::withTimeout(slow, 5s).repr()
                         << "AsyncTimeout(AsyncPredicate(slow), timeout=5.0)";
    QTest::newRow("1500 ms") << kompoz::withTimeout(slow, 1500ms).repr()
                             << "AsyncTimeout(AsyncPredicate(slow), timeout=1.5)";
    QTest::newRow("50 ms") << kompoz::withTimeout(slow, 50ms).repr()
                           << "AsyncTimeout(AsyncPredicate(slow), timeout=0.05)";
    QTest::newRow("2 min") << kompoz::withTimeout(slow, 2min).repr()
                           << "AsyncTimeout(AsyncPredicate(slow), timeout=120.0)";
}

void tst_Timeout::repr()
{
    QFETCH(QString, repr);
    QFETCH(QString, expected);
    QCOMPARE(repr, expected);
}

using Maker = std::function<void()>;
Q_DECLARE_METATYPE(Maker)

void tst_Timeout::badTimeouts_data()
{
    static auto rule = kompoz::asyncRule<int>([](int) { return true; });
    QTest::addColumn<Maker>("make");
    QTest::addColumn<QString>("parameter");
    QTest::newRow("zero") << Maker([] { kompoz::withTimeout(rule, 0ms); }) << "timeout";
    QTest::newRow("negative") << Maker([] { kompoz::withTimeout(rule, -1s); }) << "timeout";
    QTest::newRow("negative double")
            << Maker([] { kompoz::withTimeout(rule, std::chrono::duration<double>(-0.5)); })
            << "timeout";
    QTest::newRow("empty inner") << Maker([] {
        kompoz::withTimeout(kompoz::AsyncCombinator<int>(), 1s);
    }) << "inner";
    QTest::newRow("setter zero") << Maker([] {
        kompoz::withTimeout(rule, 1s).policy()->setTimeout(0ms);
    }) << "timeout";
}

void tst_Timeout::badTimeouts()
{
    QFETCH(Maker, make);
    QFETCH(QString, parameter);
    const QString message = kompoztest::invalidArgumentMessage(make);
    QVERIFY2(message.contains(parameter), qPrintable(message));
}

QTEST_GUILESS_MAIN(tst_Timeout)
#include "tst_timeout.moc"
