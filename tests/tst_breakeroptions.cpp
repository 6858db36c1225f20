// SPDX-License-Identifier: MIT
// CircuitBreakerOptions beyond kompoz: failure ratio over a count or time window with a
// minimum throughput, slow calls, break-duration backoff with a cap, isolate(), the disabled
// mode, automatic half-open by timer; and saving/restoring a breaker as JSON. Time moves by a
// ManualClock except for the one real-timer test.

#include <kompoz/kompoz.h>

#include "kompoztest.h"

#include <QJsonObject>
#include <QSignalSpy>
#include <QtTest/QtTest>

#include <thread>
#include <vector>

using namespace std::chrono_literals;
using kompoz::CircuitBreaker;
using kompoz::CircuitBreakerOptions;
using kompoz::CircuitState;
using kompoz::Outcome;

namespace {

const QDateTime kStart = QDateTime(QDate(2024, 1, 2), QTime(3, 4, 5), Qt::UTC);

//! One call through the breaker: acquire, let `takes` pass on the clock, release.
bool call(CircuitBreaker &b, kompoz::ManualClock &clock, bool ok,
          std::chrono::nanoseconds takes = 0ns)
{
    const CircuitBreaker::Permit p = b.tryAcquire();
    if (p.isRejected())
        return false;
    if (takes.count() > 0)
        clock.advance(takes);
    b.release(p, ok ? Outcome::Success : Outcome::Failure);
    return true;
}

//! Runs `pattern` ('S' success, 'F' failure) through the breaker.
void calls(CircuitBreaker &b, kompoz::ManualClock &clock, const char *pattern)
{
    for (const char *c = pattern; *c; ++c)
        call(b, clock, *c == 'S');
}

CircuitBreakerOptions ratioOptions(kompoz::ManualClock *clock)
{
    CircuitBreakerOptions o;
    o.failureRatio = 0.5;
    o.windowSize = 10;
    o.minimumThroughput = 4;
    o.clock = clock;
    return o;
}

} // namespace

class tst_BreakerOptions : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init() { m_watchdog.arm(); }
    void cleanup() { m_watchdog.disarm(); }

    void defaultsAreKompozBreaker();
    void failureRatio_data();
    void failureRatio();
    void countWindowSlides();
    void timeWindowForgetsOldCalls();
    void slowCallsOpen();
    void noClockReadWithoutSlowCalls();
    void breakDurationBackoffWithCap();
    void isolateHoldsOpenUntilReset();
    void disabledOnlyCounts();
    void autoHalfOpenByTimer();
    void lazyHalfOpenByDefault();
    void optionsThroughCombinator();
    void ratioUnderManyThreads();
    void optionsReadBack();
    void badOptions_data();
    void badOptions();

    void saveRestoreRoundTrip();
    void openUntilSurvivesRestart();
    void restoreIsolatedAndDisabled();
    void restoreMalformedChangesNothing_data();
    void restoreMalformedChangesNothing();

private:
    kompoztest::Watchdog m_watchdog;
};

void tst_BreakerOptions::defaultsAreKompozBreaker()
{
    kompoz::ManualClock clock(kStart);
    CircuitBreakerOptions o;
    o.failureThreshold = 3;
    o.clock = &clock;
    CircuitBreaker b(o);
    calls(b, clock, "FFSFF");
    QCOMPARE_ENUM(b.state(), CircuitState::Closed); // the success reset the consecutive count
    calls(b, clock, "F");
    QCOMPARE_ENUM(b.state(), CircuitState::Open);
    QCOMPARE(b.failureRatio(), 0.0); // no window kept in this mode
    QCOMPARE(b.breakDuration(), std::chrono::nanoseconds(30s));
}

void tst_BreakerOptions::failureRatio_data()
{
    QTest::addColumn<QString>("pattern");
    QTest::addColumn<bool>("opens");
    QTest::newRow("below minimum throughput") << QStringLiteral("FFF") << false;
    QTest::newRow("all failed at minimum") << QStringLiteral("FFFF") << true;
    QTest::newRow("half failed") << QStringLiteral("SFSF") << true;
    QTest::newRow("a quarter failed") << QStringLiteral("SSSF") << false;
    QTest::newRow("consecutive count ignored") << QStringLiteral("SSSSSSFFFF") << false;
    QTest::newRow("ratio reached later") << QStringLiteral("SSSSSFFFFF") << true;
}

void tst_BreakerOptions::failureRatio()
{
    QFETCH(QString, pattern);
    QFETCH(bool, opens);
    kompoz::ManualClock clock(kStart);
    CircuitBreakerOptions o = ratioOptions(&clock);
    o.failureThreshold = 1; // would open at once in count mode
    CircuitBreaker b(o);
    QSignalSpy spy(&b, &CircuitBreaker::stateChanged);
    calls(b, clock, pattern.toLatin1().constData());
    QCOMPARE_ENUM(b.state(), opens ? CircuitState::Open : CircuitState::Closed);
    QCOMPARE(spy.count(), opens ? 1 : 0);
}

void tst_BreakerOptions::countWindowSlides()
{
    kompoz::ManualClock clock(kStart);
    CircuitBreakerOptions o = ratioOptions(&clock);
    o.windowSize = 4;
    o.failureRatio = 0.75;
    CircuitBreaker b(o);
    calls(b, clock, "FFSSSS"); // the two failures have left the window
    QCOMPARE(b.failureRatio(), 0.0);
    calls(b, clock, "FF");
    QCOMPARE(b.failureRatio(), 0.5);
    QCOMPARE_ENUM(b.state(), CircuitState::Closed);
    calls(b, clock, "F");
    QCOMPARE_ENUM(b.state(), CircuitState::Open);
}

void tst_BreakerOptions::timeWindowForgetsOldCalls()
{
    kompoz::ManualClock clock(kStart);
    CircuitBreakerOptions o;
    o.failureRatio = 0.5;
    o.window = CircuitBreakerOptions::WindowKind::Time;
    o.windowDuration = 10s;
    o.minimumThroughput = 3;
    o.clock = &clock;
    CircuitBreaker b(o);
    calls(b, clock, "FF");
    clock.advance(11s); // out of the window
    calls(b, clock, "SS");
    QCOMPARE(b.failureRatio(), 0.0);
    calls(b, clock, "F");
    QCOMPARE_ENUM(b.state(), CircuitState::Closed); // 1 of 3, not 3 of 5
    calls(b, clock, "F");
    QCOMPARE_ENUM(b.state(), CircuitState::Open); // 2 of 4
}

void tst_BreakerOptions::slowCallsOpen()
{
    kompoz::ManualClock clock(kStart);
    CircuitBreakerOptions o;
    o.slowCallDuration = 1s;
    o.slowCallRatio = 0.5;
    o.minimumThroughput = 2;
    o.clock = &clock;
    CircuitBreaker b(o);
    QVERIFY(call(b, clock, true, 2s)); // slow, but a success
    QCOMPARE_ENUM(b.state(), CircuitState::Closed); // below the minimum throughput
    QCOMPARE(b.slowCallRatio(), 1.0);
    QVERIFY(call(b, clock, true, 10ms));
    QCOMPARE_ENUM(b.state(), CircuitState::Open); // 1 of 2 slow
    QCOMPARE(b.stats().successCount, 2);
    QCOMPARE(b.failureCount(), 0);
    // The break runs from when it opened.
    QVERIFY(b.tryAcquire().isRejected());
    clock.advance(30s);
    QVERIFY(!b.tryAcquire().isRejected());
    QCOMPARE_ENUM(b.state(), CircuitState::HalfOpen);
}

void tst_BreakerOptions::noClockReadWithoutSlowCalls()
{
    CircuitBreaker plain(5, 30s, 1);
    QCOMPARE(plain.tryAcquire().startedNs, qint64(-1));
    kompoz::ManualClock clock(kStart);
    clock.advance(5s);
    CircuitBreakerOptions o;
    o.slowCallDuration = 1s;
    o.clock = &clock;
    CircuitBreaker timed(o);
    QCOMPARE(timed.tryAcquire().startedNs, qint64(5000000000));
}

void tst_BreakerOptions::breakDurationBackoffWithCap()
{
    kompoz::ManualClock clock(kStart);
    CircuitBreakerOptions o;
    o.failureThreshold = 1;
    o.recoveryTimeout = 10s;
    o.breakDurationMultiplier = 2;
    o.maxBreakDuration = 25s;
    o.clock = &clock;
    CircuitBreaker b(o);
    QCOMPARE(b.breakDurationMs(), 10000);
    calls(b, clock, "F");
    QCOMPARE_ENUM(b.state(), CircuitState::Open);
    QCOMPARE(b.breakDurationMs(), 10000);
    clock.advance(10s);
    QVERIFY(call(b, clock, false)); // the trial runs, and fails
    QCOMPARE_ENUM(b.state(), CircuitState::Open);
    QCOMPARE(b.breakDurationMs(), 20000); // doubled
    clock.advance(10s);
    QVERIFY(b.tryAcquire().isRejected());
    clock.advance(10s);
    QVERIFY(call(b, clock, false));
    QCOMPARE(b.breakDurationMs(), 25000); // 40 s, capped
    clock.advance(25s);
    QVERIFY(call(b, clock, true)); // the trial succeeds: closed, backoff forgotten
    QCOMPARE_ENUM(b.state(), CircuitState::Closed);
    QCOMPARE(b.breakDurationMs(), 10000);
    QCOMPARE(b.property("breakDurationMs").toLongLong(), 10000);
}

void tst_BreakerOptions::isolateHoldsOpenUntilReset()
{
    kompoz::ManualClock clock(kStart);
    CircuitBreaker b(5, 1s, 1);
    b.setClock(&clock);
    QSignalSpy mode(&b, &CircuitBreaker::modeChanged);
    QSignalSpy states(&b, &CircuitBreaker::stateChanged);
    b.isolate();
    QVERIFY(b.isIsolated());
    QVERIFY(b.property("isolated").toBool());
    QCOMPARE_ENUM(b.state(), CircuitState::Open);
    QCOMPARE(mode.count(), 1);
    QCOMPARE(states.count(), 1);
    clock.advance(24h * 365);
    QVERIFY(b.tryAcquire().isRejected()); // the lock-free rejection path
    QCOMPARE_ENUM(b.state(), CircuitState::Open);
    b.reset();
    QVERIFY(!b.isIsolated());
    QCOMPARE_ENUM(b.state(), CircuitState::Closed);
    QCOMPARE(mode.count(), 2);
    QVERIFY(!b.tryAcquire().isRejected());
}

void tst_BreakerOptions::disabledOnlyCounts()
{
    kompoz::ManualClock clock(kStart);
    CircuitBreakerOptions o;
    o.failureThreshold = 2;
    o.disabled = true;
    o.clock = &clock;
    CircuitBreaker b(o);
    QSignalSpy states(&b, &CircuitBreaker::stateChanged);
    QVERIFY(b.isDisabled());
    for (int i = 0; i < 50; ++i)
        QVERIFY(call(b, clock, false));
    QCOMPARE_ENUM(b.state(), CircuitState::Closed);
    QCOMPARE(b.failureCount(), 50);
    QCOMPARE(states.count(), 0);
    QSignalSpy mode(&b, &CircuitBreaker::modeChanged);
    b.setProperty("disabled", false);
    QCOMPARE(mode.count(), 1);
    QCOMPARE(b.failureCount(), 0);
    calls(b, clock, "FF");
    QCOMPARE_ENUM(b.state(), CircuitState::Open);
    b.setDisabled(true); // closes it
    QCOMPARE_ENUM(b.state(), CircuitState::Closed);
}

void tst_BreakerOptions::autoHalfOpenByTimer()
{
    // Real time: the timer thread wakes the breaker, which moves in its own thread's loop.
    CircuitBreakerOptions o;
    o.failureThreshold = 1;
    o.recoveryTimeout = 50ms;
    o.autoHalfOpen = true;
    CircuitBreaker b(o);
    QSignalSpy half(&b, &CircuitBreaker::halfOpened);
    QVERIFY(!b.tryAcquire().isRejected());
    b.release(CircuitBreaker::Permit {CircuitBreaker::Permit::Normal, 0, -1}, Outcome::Failure);
    QCOMPARE_ENUM(b.state(), CircuitState::Open);
    QTRY_COMPARE_WITH_TIMEOUT(half.count(), 1, 10000); // no run needed
    QCOMPARE_ENUM(b.state(), CircuitState::HalfOpen);
    // Isolated: no timer moves it.
    b.isolate();
    QTest::qWait(150);
    QCOMPARE_ENUM(b.state(), CircuitState::Open);
}

void tst_BreakerOptions::lazyHalfOpenByDefault()
{
    CircuitBreaker b(1, 20ms, 1);
    b.release(CircuitBreaker::Permit {CircuitBreaker::Permit::Normal, 0, -1}, Outcome::Failure);
    QCOMPARE_ENUM(b.state(), CircuitState::Open);
    QTest::qWait(100);
    QCOMPARE_ENUM(b.state(), CircuitState::Open); // kompoz: moves on the next run only
    QVERIFY(!b.tryAcquire().isRejected());
    QCOMPARE_ENUM(b.state(), CircuitState::HalfOpen);
}

void tst_BreakerOptions::optionsThroughCombinator()
{
    kompoz::ManualClock clock(kStart);
    CircuitBreakerOptions o = ratioOptions(&clock);
    std::atomic<bool> pass {true};
    auto guarded = kompoz::circuitBreaker(
            kompoz::asyncRule<int>([&pass](int) { return pass.load(); }), o);
    for (int i = 0; i < 4; ++i)
        QVERIFY(guarded.run(0).result().ok);
    pass = false;
    for (int i = 0; i < 4; ++i)
        guarded.run(0);
    QCOMPARE_ENUM(guarded.state(), CircuitState::Open); // 4 of 8
    QVERIFY(guarded.breaker()->options().window == CircuitBreakerOptions::WindowKind::Count);
}

void tst_BreakerOptions::ratioUnderManyThreads()
{
    // Failing runs from 4 threads: the ratio breaker opens exactly once, every run is counted
    // or rejected, and the transitions arrive in order.
    CircuitBreakerOptions o;
    o.failureRatio = 0.5;
    o.windowSize = 50;
    o.minimumThroughput = 20;
    o.slowCallDuration = 1h; // timed permits on the hot path, never slow
    o.recoveryTimeout = 1h;
    auto guarded = kompoz::circuitBreaker(kompoz::asyncRule<int>([](int x) { return x % 3 != 0; }),
                                          o);
    // Emitted in the worker that opened it: counted by a receiver in this thread (queued),
    // since QSignalSpy is not thread-safe in 6.4.
    int opened = 0;
    connect(guarded.breaker(), &CircuitBreaker::opened, this, [&opened] { ++opened; });
    constexpr int kThreads = 4, kRuns = 500;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&guarded] {
            for (int i = 0; i < kRuns; ++i)
                guarded.run(i * 3); // every run fails: x % 3 == 0
        });
    }
    for (std::thread &t : threads)
        t.join();
    QCOMPARE_ENUM(guarded.state(), CircuitState::Open);
    QTRY_COMPARE(opened, 1);
    const kompoz::CircuitBreakerStats s = guarded.stats();
    QCOMPARE(s.failureCount + s.rejectedCount, kThreads * kRuns);
    QVERIFY(s.failureCount >= o.minimumThroughput);
}

void tst_BreakerOptions::optionsReadBack()
{
    kompoz::ManualClock clock(kStart);
    CircuitBreakerOptions o = ratioOptions(&clock);
    o.slowCallDuration = 3s;
    o.maxBreakDuration = 1min;
    CircuitBreaker b(o);
    b.setFailureThreshold(7);
    const CircuitBreakerOptions back = b.options();
    QCOMPARE(back.failureRatio, 0.5);
    QCOMPARE(back.windowSize, 10);
    QCOMPARE(back.slowCallDuration, std::chrono::nanoseconds(3s));
    QCOMPARE(back.maxBreakDuration, std::chrono::nanoseconds(1min));
    QCOMPARE(back.failureThreshold, 7);
    QCOMPARE(back.clock, &clock);
}

void tst_BreakerOptions::badOptions_data()
{
    QTest::addColumn<int>("which");
    QTest::addColumn<QString>("field");
    QTest::newRow("failureRatio > 1") << 0 << QStringLiteral("failureRatio");
    QTest::newRow("failureRatio < 0") << 1 << QStringLiteral("failureRatio");
    QTest::newRow("windowSize 0") << 2 << QStringLiteral("windowSize");
    QTest::newRow("windowDuration 0") << 3 << QStringLiteral("windowDuration");
    QTest::newRow("minimumThroughput 0") << 4 << QStringLiteral("minimumThroughput");
    QTest::newRow("slowCallDuration < 0") << 5 << QStringLiteral("slowCallDuration");
    QTest::newRow("slowCallRatio 0") << 6 << QStringLiteral("slowCallRatio");
    QTest::newRow("breakDurationMultiplier < 1") << 7 << QStringLiteral("breakDurationMultiplier");
    QTest::newRow("maxBreakDuration < 0") << 8 << QStringLiteral("maxBreakDuration");
    QTest::newRow("failureThreshold 0") << 9 << QStringLiteral("failureThreshold");
    QTest::newRow("NaN ratio") << 10 << QStringLiteral("failureRatio");
}

void tst_BreakerOptions::badOptions()
{
    QFETCH(int, which);
    QFETCH(QString, field);
    CircuitBreakerOptions o;
    switch (which) {
    case 0:
        o.failureRatio = 1.5;
        break;
    case 1:
        o.failureRatio = -0.1;
        break;
    case 2:
        o.windowSize = 0;
        break;
    case 3:
        o.windowDuration = 0s;
        break;
    case 4:
        o.minimumThroughput = 0;
        break;
    case 5:
        o.slowCallDuration = -1s;
        break;
    case 6:
        o.slowCallRatio = 0;
        break;
    case 7:
        o.breakDurationMultiplier = 0.5;
        break;
    case 8:
        o.maxBreakDuration = -1s;
        break;
    case 9:
        o.failureThreshold = 0;
        break;
    case 10:
        o.failureRatio = std::nan("");
        break;
    }
    const QString m = kompoztest::invalidArgumentMessage([&] { CircuitBreaker b(o); });
    QVERIFY2(m.contains(field), qPrintable(m));
    const QString viaFactory = kompoztest::invalidArgumentMessage(
            [&] { kompoz::circuitBreaker(kompoz::asyncRule<int>([](int) { return true; }), o); });
    QVERIFY2(viaFactory.contains(field), qPrintable(viaFactory));
}

void tst_BreakerOptions::saveRestoreRoundTrip()
{
    kompoz::ManualClock clock(kStart);
    CircuitBreaker a(3, 30s, 1);
    a.setClock(&clock);
    calls(a, clock, "SSFFF");
    QVERIFY(a.tryAcquire().isRejected());
    const QJsonObject saved = a.saveState();
    QCOMPARE(saved.value(QStringLiteral("state")).toString(), QStringLiteral("Open"));
    QCOMPARE(saved.value(QStringLiteral("failureCount")).toInt(), 3);

    CircuitBreaker b(3, 30s, 1);
    b.setClock(&clock);
    QSignalSpy states(&b, &CircuitBreaker::stateChanged);
    QString error;
    QVERIFY2(b.restoreState(saved, &error), qPrintable(error));
    QCOMPARE_ENUM(b.state(), CircuitState::Open);
    QCOMPARE(states.count(), 1);
    QVERIFY(b.stats() == a.stats());
    QVERIFY(b.tryAcquire().isRejected()); // does not hammer the service it knew was down
    clock.advance(30s);
    QVERIFY(!b.tryAcquire().isRejected());
    QCOMPARE_ENUM(b.state(), CircuitState::HalfOpen);

    // A closed breaker round-trips its counts too.
    CircuitBreaker c(3, 30s, 1);
    c.setClock(&clock);
    calls(c, clock, "SF");
    CircuitBreaker d(3, 30s, 1);
    QVERIFY(d.restoreState(c.saveState()));
    QVERIFY(d.stats() == c.stats());
}

void tst_BreakerOptions::openUntilSurvivesRestart()
{
    kompoz::ManualClock before(kStart);
    CircuitBreaker a(1, 30s, 1);
    a.setClock(&before);
    calls(a, before, "F");
    before.advance(10s);
    const QJsonObject saved = a.saveState();
    QCOMPARE(qint64(saved.value(QStringLiteral("openUntil")).toDouble()),
             kStart.toMSecsSinceEpoch() + 30000);

    // "Restarted" 10 s later on the wall, with a monotonic clock back at zero.
    kompoz::ManualClock after(kStart.addSecs(20));
    CircuitBreaker b(1, 30s, 1);
    b.setClock(&after);
    QVERIFY(b.restoreState(saved));
    after.advance(9s);
    QVERIFY(b.tryAcquire().isRejected());
    after.advance(1s);
    QVERIFY(!b.tryAcquire().isRejected());
}

void tst_BreakerOptions::restoreIsolatedAndDisabled()
{
    CircuitBreaker a;
    a.isolate();
    CircuitBreaker b;
    QSignalSpy mode(&b, &CircuitBreaker::modeChanged);
    QVERIFY(b.restoreState(a.saveState()));
    QVERIFY(b.isIsolated());
    QCOMPARE(mode.count(), 1);
    QVERIFY(b.tryAcquire().isRejected());

    CircuitBreaker c;
    c.setDisabled(true);
    CircuitBreaker d;
    QVERIFY(d.restoreState(c.saveState()));
    QVERIFY(d.isDisabled());
}

void tst_BreakerOptions::restoreMalformedChangesNothing_data()
{
    QTest::addColumn<QString>("key");
    QTest::addColumn<QJsonValue>("value");
    QTest::addColumn<QString>("mentions");
    QTest::newRow("no version") << QStringLiteral("version") << QJsonValue()
                                << QStringLiteral("version");
    QTest::newRow("future version")
            << QStringLiteral("version") << QJsonValue(2) << QStringLiteral("version");
    QTest::newRow("unknown state") << QStringLiteral("state") << QJsonValue(QStringLiteral("Ajar"))
                                   << QStringLiteral("state");
    QTest::newRow("negative count")
            << QStringLiteral("failureCount") << QJsonValue(-1) << QStringLiteral("failureCount");
    QTest::newRow("fractional count")
            << QStringLiteral("successCount") << QJsonValue(1.5) << QStringLiteral("successCount");
    QTest::newRow("count as text")
            << QStringLiteral("rejectedCount") << QJsonValue(QStringLiteral("3"))
            << QStringLiteral("rejectedCount");
    QTest::newRow("bad time") << QStringLiteral("lastFailureTime") << QJsonValue(true)
                              << QStringLiteral("lastFailureTime");
    QTest::newRow("open without end")
            << QStringLiteral("openUntil") << QJsonValue() << QStringLiteral("openUntil");
    QTest::newRow("isolated not bool")
            << QStringLiteral("isolated") << QJsonValue(1) << QStringLiteral("isolated");
    QTest::newRow("disabled but open")
            << QStringLiteral("disabled") << QJsonValue(true) << QStringLiteral("disabled");
}

void tst_BreakerOptions::restoreMalformedChangesNothing()
{
    QFETCH(QString, key);
    QFETCH(QJsonValue, value);
    QFETCH(QString, mentions);
    kompoz::ManualClock clock(kStart);
    CircuitBreaker source(1, 30s, 1);
    source.setClock(&clock);
    calls(source, clock, "SF"); // Open, with counts
    QJsonObject bad = source.saveState();
    if (value.isNull() || value.isUndefined())
        bad.remove(key);
    else
        bad.insert(key, value);

    CircuitBreaker target(1, 30s, 1);
    target.setClock(&clock);
    calls(target, clock, "S");
    const kompoz::CircuitBreakerStats before = target.stats();
    QSignalSpy states(&target, &CircuitBreaker::stateChanged);
    QString error;
    QVERIFY(!target.restoreState(bad, &error));
    QVERIFY2(error.contains(mentions), qPrintable(error));
    QVERIFY(target.stats() == before);
    QCOMPARE(states.count(), 0);
    QVERIFY(!target.restoreState(bad)); // no error string wanted: still refused
}

QTEST_GUILESS_MAIN(tst_BreakerOptions)
#include "tst_breakeroptions.moc"
