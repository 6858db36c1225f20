// SPDX-License-Identifier: MIT
// The circuit breaker: kompoz's state machine (with a ManualClock, never sleeping), its counts,
// signals, properties and callback, and how it treats exceptions and cancelled runs.

#include <kompoz/kompoz.h>

#include "kompoztest.h"

#include <QSignalSpy>
#include <QThread>
#include <QtTest/QtTest>

#include <atomic>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;
using kompoz::CircuitBreakerStats;
using kompoz::CircuitState;
using kompoz::Result;
using kompoztest::Tasks;

namespace {

//! A rule whose verdict the test sets, counting how often the breaker let it run.
struct Switch
{
    std::atomic<bool> pass {true};
    std::atomic<bool> throws {false};
    std::atomic<int> calls {0};
    kompoz::AsyncCombinator<int> rule()
    {
        return kompoz::asyncRule<int>(
                [this](int) {
                    ++calls;
                    if (throws)
                        throw std::runtime_error("inner threw");
                    return pass.load();
                },
                QStringLiteral("switch"));
    }
};

Result<int> runNow(const kompoz::AsyncCombinator<int> &c, int ctx = 0)
{
    QFuture<Result<int>> f = c.run(ctx);
    if (!kompoztest::waitFor(f))
        throw std::runtime_error("run did not finish");
    return f.result();
}

const QDateTime kStart = QDateTime(QDate(2024, 1, 2), QTime(3, 4, 5), Qt::UTC);

} // namespace

class tst_CircuitBreaker : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init() { m_watchdog.arm(); }
    void cleanup() { m_watchdog.disarm(); }

    void startsClosed();
    void opensAtThreshold_data();
    void opensAtThreshold();
    void successResetsFailureCount();
    void openRejectsWithoutRunningInner();
    void halfOpenIsLazyAfterRecoveryTimeout();
    void halfOpenTrialLimit();
    void halfOpenFailureReopens();
    void halfOpenSuccessesClose_data();
    void halfOpenSuccessesClose();
    void resetCloses();
    void resetOnConstHandle();
    void statsFieldsAndTimes();
    void rejectedCountAndCallRejected();
    void signalsPerTransition();
    void onStateChangeOncePerTransition();
    void onStateChangeThrows();
    void propertiesAndNotify();
    void typesInQVariant();
    void typesInQueuedConnectionAcrossThreads();
    void countedBeforeFutureFinishes();
    void inFlightRunsStillCount();
    void canceledRunCountsNeither();
    void canceledRunFreesHalfOpenTrial();
    void exceptionCountsAsFailureAndReachesCaller();
    void badArguments_data();
    void badArguments();
    void copiesShareState();
    void rejectedRunSkipsInnerLayers();
    void breakerObjectThreadAffinity();

private:
    kompoztest::Watchdog m_watchdog;
};

void tst_CircuitBreaker::startsClosed()
{
    Switch s;
    auto cb = kompoz::circuitBreaker(s.rule());
    QCOMPARE_ENUM(cb.state(), CircuitState::Closed);
    const CircuitBreakerStats st = cb.stats();
    QCOMPARE_ENUM(st.state, CircuitState::Closed);
    QCOMPARE(st.failureCount, 0);
    QCOMPARE(st.successCount, 0);
    QCOMPARE(st.halfOpenSuccesses, 0);
    QCOMPARE(st.rejectedCount, 0);
    QVERIFY(!st.lastFailureTime.isValid());
    QVERIFY(!st.lastSuccessTime.isValid());
    QCOMPARE(cb.breaker()->failureThreshold(), 5); // kompoz's defaults
    QCOMPARE(cb.breaker()->recoveryTimeout(), std::chrono::nanoseconds(30s));
    QCOMPARE(cb.breaker()->halfOpenMaxCalls(), 1);
}

void tst_CircuitBreaker::opensAtThreshold_data()
{
    QTest::addColumn<int>("failures");
    QTest::addColumn<bool>("open");
    QTest::newRow("none") << 0 << false;
    QTest::newRow("one below threshold") << 2 << false;
    QTest::newRow("at threshold") << 3 << true;
    QTest::newRow("above threshold") << 4 << true;
}

void tst_CircuitBreaker::opensAtThreshold()
{
    QFETCH(int, failures);
    QFETCH(bool, open);
    Switch s;
    s.pass = false;
    auto cb = kompoz::circuitBreaker(s.rule(), 3, 30s);
    QSignalSpy spy(cb.breaker(), &kompoz::CircuitBreaker::stateChanged);
    QVERIFY(spy.isValid());
    for (int i = 0; i < failures; ++i) {
        const Result<int> r = runNow(cb, i);
        QCOMPARE(r.ok, false);
        QCOMPARE(r.ctx, i);
    }
    QCOMPARE_ENUM(cb.state(), open ? CircuitState::Open : CircuitState::Closed);
    QCOMPARE(spy.count(), open ? 1 : 0);
    QCOMPARE(s.calls.load(), qMin(failures, 3)); // the 4th is rejected, not run
    QCOMPARE(cb.stats().failureCount, qMin(failures, 3));
}

void tst_CircuitBreaker::successResetsFailureCount()
{
    Switch s;
    auto cb = kompoz::circuitBreaker(s.rule(), 3, 30s);
    s.pass = false;
    runNow(cb);
    runNow(cb);
    QCOMPARE(cb.stats().failureCount, 2);
    s.pass = true;
    QCOMPARE(runNow(cb).ok, true);
    QCOMPARE(cb.stats().failureCount, 0);
    QCOMPARE(cb.stats().successCount, 1);
    s.pass = false;
    runNow(cb);
    runNow(cb);
    QCOMPARE_ENUM(cb.state(), CircuitState::Closed); // consecutive failures only
    runNow(cb);
    QCOMPARE_ENUM(cb.state(), CircuitState::Open);
}

void tst_CircuitBreaker::openRejectsWithoutRunningInner()
{
    Switch s;
    s.pass = false;
    auto cb = kompoz::circuitBreaker(s.rule(), 1, 30s);
    runNow(cb);
    QCOMPARE_ENUM(cb.state(), CircuitState::Open);
    s.pass = true;
    const int calls = s.calls.load();
    for (int i = 0; i < 5; ++i) {
        QFuture<Result<int>> f = cb.run(40 + i);
        QVERIFY(f.isFinished()); // rejected at once
        QCOMPARE(f.result().ok, false);
        QCOMPARE(f.result().ctx, 40 + i);
    }
    QCOMPARE(s.calls.load(), calls);
    QCOMPARE(cb.stats().rejectedCount, 5);
    QCOMPARE(cb.stats().failureCount, 1); // rejections are not failures
    QCOMPARE(cb.stats().successCount, 0);
}

void tst_CircuitBreaker::halfOpenIsLazyAfterRecoveryTimeout()
{
    kompoz::ManualClock clock(kStart);
    Switch s;
    s.pass = false;
    auto cb = kompoz::circuitBreaker(s.rule(), 1, 10s);
    cb.breaker()->setClock(&clock);
    QSignalSpy halfOpened(cb.breaker(), &kompoz::CircuitBreaker::halfOpened);
    runNow(cb);
    QCOMPARE_ENUM(cb.state(), CircuitState::Open);
    clock.advance(9s);
    QCOMPARE(runNow(cb).ok, false);
    QCOMPARE(s.calls.load(), 1); // still open: rejected
    clock.advance(1s);
    // Lazy: time alone does not move the state; the next run does.
    QCOMPARE_ENUM(cb.state(), CircuitState::Open);
    QCOMPARE(halfOpened.count(), 0);
    Tasks<bool> tasks;
    auto pendingCb = kompoz::circuitBreaker(kompoz::asyncRule<int>(tasks.fn()), cb.sharedBreaker());
    QFuture<Result<int>> trial = pendingCb.run(1);
    QCOMPARE(tasks.started(), 1);
    QCOMPARE_ENUM(cb.state(), CircuitState::HalfOpen);
    QCOMPARE(halfOpened.count(), 1);
    tasks.finish(0, true);
    QVERIFY(kompoztest::waitFor(trial));
    QCOMPARE(trial.result().ok, true);
    QCOMPARE_ENUM(cb.state(), CircuitState::Closed);
}

void tst_CircuitBreaker::halfOpenTrialLimit()
{
    kompoz::ManualClock clock(kStart);
    Switch s;
    s.pass = false;
    auto cb = kompoz::circuitBreaker(s.rule(), 1, 5s, 2);
    cb.breaker()->setClock(&clock);
    runNow(cb);
    clock.advance(5s);
    Tasks<bool> tasks;
    auto pending = kompoz::circuitBreaker(kompoz::asyncRule<int>(tasks.fn()), cb.sharedBreaker());
    QFuture<Result<int>> t1 = pending.run(1);
    QFuture<Result<int>> t2 = pending.run(2);
    const int rejectedBefore = cb.stats().rejectedCount;
    QFuture<Result<int>> t3 = pending.run(3); // a third trial is one too many
    QCOMPARE(tasks.started(), 2);
    QVERIFY(t3.isFinished());
    QCOMPARE(t3.result().ok, false);
    QCOMPARE(cb.stats().rejectedCount, rejectedBefore + 1);
    QCOMPARE_ENUM(cb.state(), CircuitState::HalfOpen);
    tasks.finish(0, true);
    QVERIFY(kompoztest::waitFor(t1));
    QCOMPARE_ENUM(cb.state(), CircuitState::HalfOpen); // 1 of 2 successes
    QCOMPARE(cb.stats().halfOpenSuccesses, 1);
    tasks.finish(1, true);
    QVERIFY(kompoztest::waitFor(t2));
    QCOMPARE_ENUM(cb.state(), CircuitState::Closed);
}

void tst_CircuitBreaker::halfOpenFailureReopens()
{
    kompoz::ManualClock clock(kStart);
    Switch s;
    s.pass = false;
    auto cb = kompoz::circuitBreaker(s.rule(), 2, 5s, 3);
    cb.breaker()->setClock(&clock);
    QSignalSpy transitions(cb.breaker(), &kompoz::CircuitBreaker::transitioned);
    runNow(cb);
    runNow(cb);
    QCOMPARE_ENUM(cb.state(), CircuitState::Open);
    clock.advance(6s);
    s.pass = true;
    QCOMPARE(runNow(cb).ok, true);
    QCOMPARE_ENUM(cb.state(), CircuitState::HalfOpen);
    const int failuresBefore = cb.stats().failureCount;
    s.pass = false;
    QCOMPARE(runNow(cb).ok, false); // any half-open failure opens it again
    QCOMPARE_ENUM(cb.state(), CircuitState::Open);
    QCOMPARE(cb.stats().failureCount, failuresBefore + 1);
    // And the recovery timeout counts again from that failure.
    clock.advance(4s);
    const int calls = s.calls.load();
    runNow(cb);
    QCOMPARE(s.calls.load(), calls);
    QCOMPARE(transitions.count(), 3);
    QCOMPARE_ENUM(transitions.at(2).at(0).value<CircuitState>(), CircuitState::HalfOpen);
    QCOMPARE_ENUM(transitions.at(2).at(1).value<CircuitState>(), CircuitState::Open);
}

void tst_CircuitBreaker::halfOpenSuccessesClose_data()
{
    QTest::addColumn<int>("halfOpenMaxCalls");
    QTest::newRow("1") << 1;
    QTest::newRow("3") << 3;
}

void tst_CircuitBreaker::halfOpenSuccessesClose()
{
    QFETCH(int, halfOpenMaxCalls);
    kompoz::ManualClock clock(kStart);
    Switch s;
    s.pass = false;
    auto cb = kompoz::circuitBreaker(s.rule(), 1, 1s, halfOpenMaxCalls);
    cb.breaker()->setClock(&clock);
    QSignalSpy closed(cb.breaker(), &kompoz::CircuitBreaker::closed);
    runNow(cb);
    clock.advance(1s);
    s.pass = true;
    for (int i = 0; i < halfOpenMaxCalls - 1; ++i) {
        QCOMPARE(runNow(cb).ok, true);
        QCOMPARE_ENUM(cb.state(), CircuitState::HalfOpen);
        QCOMPARE(cb.stats().halfOpenSuccesses, i + 1);
    }
    QCOMPARE(closed.count(), 0);
    QCOMPARE(runNow(cb).ok, true);
    QCOMPARE_ENUM(cb.state(), CircuitState::Closed);
    QCOMPARE(closed.count(), 1);
    QCOMPARE(cb.stats().failureCount, 0);
    QCOMPARE(cb.stats().halfOpenSuccesses, 0);
    QCOMPARE(cb.stats().successCount, halfOpenMaxCalls); // cumulative
}

void tst_CircuitBreaker::resetCloses()
{
    Switch s;
    s.pass = false;
    auto cb = kompoz::circuitBreaker(s.rule(), 2, 30s);
    QSignalSpy spy(cb.breaker(), &kompoz::CircuitBreaker::stateChanged);
    runNow(cb);
    QCOMPARE(cb.stats().failureCount, 1);
    cb.reset(); // closed already: no transition, counts cleared
    QCOMPARE(spy.count(), 0);
    QCOMPARE(cb.stats().failureCount, 0);
    runNow(cb);
    runNow(cb);
    QCOMPARE_ENUM(cb.state(), CircuitState::Open);
    cb.reset();
    QCOMPARE_ENUM(cb.state(), CircuitState::Closed);
    QCOMPARE(cb.stats().failureCount, 0);
    QCOMPARE(cb.stats().halfOpenSuccesses, 0);
    QCOMPARE(spy.count(), 2);
    QCOMPARE_ENUM(spy.at(1).at(0).value<CircuitState>(), CircuitState::Closed);
    s.pass = true;
    const int calls = s.calls.load();
    QCOMPARE(runNow(cb).ok, true); // runs again
    QCOMPARE(s.calls.load(), calls + 1);
    // reset() is a slot: invokable through the meta-object system.
    s.pass = false;
    runNow(cb);
    runNow(cb);
    QVERIFY(QMetaObject::invokeMethod(cb.breaker(), "reset"));
    QCOMPARE_ENUM(cb.state(), CircuitState::Closed);
}

void tst_CircuitBreaker::resetOnConstHandle()
{
    Switch s;
    s.pass = false;
    const auto cb = kompoz::circuitBreaker(s.rule(), 1, 30s);
    runNow(cb);
    QCOMPARE_ENUM(cb.state(), CircuitState::Open);
    cb.reset(); // handles behave like pointers
    QCOMPARE_ENUM(cb.state(), CircuitState::Closed);
}

void tst_CircuitBreaker::statsFieldsAndTimes()
{
    kompoz::ManualClock clock(kStart);
    Switch s;
    auto cb = kompoz::circuitBreaker(s.rule(), 3, 30s);
    cb.breaker()->setClock(&clock);
    clock.advance(2s);
    runNow(cb);
    clock.advance(3s);
    s.pass = false;
    runNow(cb);
    const CircuitBreakerStats st = cb.stats();
    QCOMPARE(st.successCount, 1);
    QCOMPARE(st.failureCount, 1);
    QCOMPARE(st.lastSuccessTime, kStart.addSecs(2));
    QCOMPARE(st.lastFailureTime, kStart.addSecs(5));
    QCOMPARE(cb.breaker()->lastFailureTime(), kStart.addSecs(5));
    QCOMPARE(cb.breaker()->lastSuccessTime(), kStart.addSecs(2));
    QCOMPARE(cb.breaker()->failureCount(), 1);
    QCOMPARE(cb.breaker()->successCount(), 1);
    QCOMPARE(cb.breaker()->stats(), st);
}

void tst_CircuitBreaker::rejectedCountAndCallRejected()
{
    Switch s;
    s.pass = false;
    auto cb = kompoz::circuitBreaker(s.rule(), 1, 30s);
    QSignalSpy rejected(cb.breaker(), &kompoz::CircuitBreaker::callRejected);
    QVERIFY(rejected.isValid());
    runNow(cb);
    QCOMPARE(rejected.count(), 0);
    runNow(cb);
    runNow(cb);
    QCOMPARE(rejected.count(), 2);
    QCOMPARE(cb.breaker()->rejectedCount(), 2);
    QCOMPARE(cb.stats().rejectedCount, 2);
}

void tst_CircuitBreaker::signalsPerTransition()
{
    kompoz::ManualClock clock(kStart);
    Switch s;
    s.pass = false;
    auto cb = kompoz::circuitBreaker(s.rule(), 1, 1s);
    cb.breaker()->setClock(&clock);
    auto *b = cb.breaker();
    QSignalSpy changed(b, &kompoz::CircuitBreaker::stateChanged);
    QSignalSpy transitioned(b, &kompoz::CircuitBreaker::transitioned);
    QSignalSpy opened(b, &kompoz::CircuitBreaker::opened);
    QSignalSpy halfOpened(b, &kompoz::CircuitBreaker::halfOpened);
    QSignalSpy closed(b, &kompoz::CircuitBreaker::closed);
    runNow(cb); // Closed -> Open
    clock.advance(1s);
    runNow(cb); // Open -> HalfOpen -> Open
    clock.advance(1s);
    s.pass = true;
    runNow(cb); // Open -> HalfOpen -> Closed
    const QList<CircuitState> expected {CircuitState::Open, CircuitState::HalfOpen,
                                        CircuitState::Open, CircuitState::HalfOpen,
                                        CircuitState::Closed};
    QCOMPARE(changed.count(), expected.size());
    QCOMPARE(transitioned.count(), expected.size());
    CircuitState from = CircuitState::Closed;
    for (int i = 0; i < expected.size(); ++i) {
        QCOMPARE_ENUM(changed.at(i).at(0).value<CircuitState>(), expected.at(i));
        QCOMPARE_ENUM(transitioned.at(i).at(0).value<CircuitState>(), from);
        QCOMPARE_ENUM(transitioned.at(i).at(1).value<CircuitState>(), expected.at(i));
        from = expected.at(i);
    }
    QCOMPARE(opened.count(), 2);
    QCOMPARE(halfOpened.count(), 2);
    QCOMPARE(closed.count(), 1);
}

void tst_CircuitBreaker::onStateChangeOncePerTransition()
{
    struct Call
    {
        CircuitState from, to;
        CircuitBreakerStats stats;
    };
    QList<Call> calls;
    kompoz::ManualClock clock(kStart);
    Switch s;
    s.pass = false;
    const kompoz::StateChangeCallback record = [&](CircuitState from, CircuitState to,
                                                   const CircuitBreakerStats &st) {
        calls.append({from, to, st});
    };
    auto cb = kompoz::circuitBreaker(s.rule(), 2, 1s, 1, record);
    cb.breaker()->setClock(&clock);
    runNow(cb);
    QCOMPARE(calls.size(), 0);
    runNow(cb);
    QCOMPARE(calls.size(), 1);
    QCOMPARE_ENUM(calls.at(0).from, CircuitState::Closed);
    QCOMPARE_ENUM(calls.at(0).to, CircuitState::Open);
    QCOMPARE_ENUM(calls.at(0).stats.state, CircuitState::Open);
    QCOMPARE(calls.at(0).stats.failureCount, 2);
    QCOMPARE(calls.at(0).stats.lastFailureTime, kStart);
    clock.advance(1s);
    s.pass = true;
    runNow(cb);
    QCOMPARE(calls.size(), 3);
    QCOMPARE_ENUM(calls.at(1).from, CircuitState::Open);
    QCOMPARE_ENUM(calls.at(1).to, CircuitState::HalfOpen);
    QCOMPARE_ENUM(calls.at(2).from, CircuitState::HalfOpen);
    QCOMPARE_ENUM(calls.at(2).to, CircuitState::Closed);
    QCOMPARE(calls.at(2).stats.successCount, 1);
    cb.reset(); // already closed: no call
    QCOMPARE(calls.size(), 3);
}

void tst_CircuitBreaker::onStateChangeThrows()
{
    Switch s;
    s.pass = false;
    int callbackCalls = 0;
    auto cb = kompoz::circuitBreaker(s.rule(), 1, 30s, 1,
                                     [&](CircuitState, CircuitState, const CircuitBreakerStats &) {
                                         ++callbackCalls;
                                         throw std::runtime_error("callback broke");
                                     });
    QSignalSpy changed(cb.breaker(), &kompoz::CircuitBreaker::stateChanged);
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("onStateChange threw")));
    QFuture<Result<int>> f = cb.run(77);
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(kompoztest::exceptionMessage(f), QString()); // the run's result is not lost
    QCOMPARE(f.result().ok, false);
    QCOMPARE(f.result().ctx, 77);
    QCOMPARE(callbackCalls, 1);
    QCOMPARE_ENUM(cb.state(), CircuitState::Open); // the transition stands
    QCOMPARE(changed.count(), 1);
    // And the breaker keeps working.
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("onStateChange threw")));
    cb.reset();
    QCOMPARE_ENUM(cb.state(), CircuitState::Closed);
    QCOMPARE(callbackCalls, 2);
}

void tst_CircuitBreaker::propertiesAndNotify()
{
    Switch s;
    s.pass = false;
    auto cb = kompoz::circuitBreaker(s.rule(), 2, 30s);
    QObject *b = cb.breaker();
    const QMetaObject *mo = b->metaObject();
    const QMetaProperty state = mo->property(mo->indexOfProperty("state"));
    QVERIFY(state.isValid());
    QVERIFY(state.hasNotifySignal());
    QCOMPARE(state.notifySignal(), QMetaMethod::fromSignal(&kompoz::CircuitBreaker::stateChanged));
    for (const char *name : {"stats", "failureCount", "successCount", "halfOpenSuccesses",
                             "rejectedCount", "lastFailureTime", "lastSuccessTime"}) {
        const QMetaProperty p = mo->property(mo->indexOfProperty(name));
        QVERIFY2(p.isValid(), name);
        QVERIFY2(p.hasNotifySignal(), name);
    }
    QSignalSpy failureCount(cb.breaker(), &kompoz::CircuitBreaker::failureCountChanged);
    QSignalSpy stats(cb.breaker(), &kompoz::CircuitBreaker::statsChanged);
    QSignalSpy lastFailure(cb.breaker(), &kompoz::CircuitBreaker::lastFailureTimeChanged);
    QSignalSpy rejected(cb.breaker(), &kompoz::CircuitBreaker::rejectedCountChanged);
    runNow(cb);
    QTRY_VERIFY(!failureCount.isEmpty());
    QCOMPARE(failureCount.last().at(0).toInt(), 1);
    QCOMPARE(b->property("failureCount").toInt(), 1);
    QTRY_VERIFY(!lastFailure.isEmpty());
    QVERIFY(b->property("lastFailureTime").toDateTime().isValid());
    runNow(cb);
    runNow(cb); // rejected
    QCOMPARE_ENUM(b->property("state").value<CircuitState>(), CircuitState::Open);
    QCOMPARE(b->property("rejectedCount").toInt(), 1);
    QTRY_VERIFY(!rejected.isEmpty() && rejected.last().at(0).toInt() == 1);
    QTRY_VERIFY(!stats.isEmpty() &&
                stats.last().at(0).value<CircuitBreakerStats>().rejectedCount == 1);
    const auto viaProperty = b->property("stats").value<CircuitBreakerStats>();
    QCOMPARE(viaProperty, cb.stats());
    QCOMPARE(viaProperty.failureCount, 2);
    // The settings are writable properties too.
    QVERIFY(b->setProperty("failureThreshold", 4));
    QCOMPARE(cb.breaker()->failureThreshold(), 4);
}

void tst_CircuitBreaker::typesInQVariant()
{
    CircuitBreakerStats st;
    st.state = CircuitState::HalfOpen;
    st.failureCount = 3;
    st.successCount = 4;
    st.halfOpenSuccesses = 1;
    st.rejectedCount = 9;
    st.lastFailureTime = kStart;
    const QVariant v = QVariant::fromValue(st);
    QVERIFY(v.canConvert<CircuitBreakerStats>());
    QCOMPARE(v.value<CircuitBreakerStats>(), st);
    const QVariant s = QVariant::fromValue(CircuitState::Open);
    QCOMPARE_ENUM(s.value<CircuitState>(), CircuitState::Open);
    QCOMPARE(s.toString(), QStringLiteral("Open")); // Q_ENUM_NS: names convert
    // Q_GADGET: fields readable through the meta-object.
    const QMetaObject &mo = CircuitBreakerStats::staticMetaObject;
    const QMetaProperty rejected = mo.property(mo.indexOfProperty("rejectedCount"));
    QCOMPARE(rejected.readOnGadget(&st).toInt(), 9);
}

namespace {
class Receiver : public QObject
{
    Q_OBJECT
public:
    QMutex mutex;
    QList<CircuitState> states;
    QList<CircuitBreakerStats> stats;
    QThread *deliveredIn = nullptr;
public Q_SLOTS:
    void onState(kompoz::CircuitState s)
    {
        QMutexLocker lock(&mutex);
        states.append(s);
        deliveredIn = QThread::currentThread();
    }
    void onStats(const kompoz::CircuitBreakerStats &s)
    {
        QMutexLocker lock(&mutex);
        stats.append(s);
    }
};
} // namespace

void tst_CircuitBreaker::typesInQueuedConnectionAcrossThreads()
{
    Switch s;
    s.pass = false;
    auto cb = kompoz::circuitBreaker(s.rule(), 1, 30s);
    QThread other;
    kompoztest::startThread(other);
    Receiver receiver;
    receiver.moveToThread(&other);
    QVERIFY(connect(cb.breaker(), &kompoz::CircuitBreaker::stateChanged, &receiver,
                    &Receiver::onState, Qt::QueuedConnection));
    QVERIFY(connect(cb.breaker(), &kompoz::CircuitBreaker::statsChanged, &receiver,
                    &Receiver::onStats, Qt::QueuedConnection));
    runNow(cb);
    QTRY_VERIFY([&] {
        QMutexLocker lock(&receiver.mutex);
        return !receiver.states.isEmpty() && !receiver.stats.isEmpty();
    }());
    {
        QMutexLocker lock(&receiver.mutex);
        QCOMPARE_ENUM(receiver.states.first(), CircuitState::Open);
        QCOMPARE(receiver.deliveredIn, &other);
        QCOMPARE(receiver.stats.last().failureCount, 1);
    }
    QVERIFY(kompoztest::stopThread(other));
}

void tst_CircuitBreaker::countedBeforeFutureFinishes()
{
    Tasks<bool> tasks;
    auto cb = kompoz::circuitBreaker(kompoz::asyncRule<int>(tasks.fn()), 1, 30s);
    std::atomic<int> seenState {-1};
    std::atomic<int> seenFailures {-1};
    QFuture<Result<int>> f = cb.run(1);
    // A synchronous continuation runs the moment the future finishes.
    QFuture<void> seen = f.then(QtFuture::Launch::Sync, [&](Result<int>) {
        seenState = int(cb.state());
        seenFailures = cb.stats().failureCount;
    });
    tasks.finish(0, false);
    QVERIFY(kompoztest::waitFor(seen));
    QCOMPARE(seenState.load(), int(CircuitState::Open));
    QCOMPARE(seenFailures.load(), 1);
}

void tst_CircuitBreaker::inFlightRunsStillCount()
{
    Tasks<bool> tasks;
    auto cb = kompoz::circuitBreaker(kompoz::asyncRule<int>(tasks.fn()), 2, 30s);
    QFuture<Result<int>> a = cb.run(1);
    QFuture<Result<int>> b = cb.run(2);
    QFuture<Result<int>> c = cb.run(3);
    tasks.finish(0, false);
    tasks.finish(1, false);
    QCOMPARE_ENUM(cb.state(), CircuitState::Open);
    tasks.finish(2, true); // was in flight when it opened: counted (as kompoz)
    QVERIFY(kompoztest::waitFor(c));
    QCOMPARE(c.result().ok, true);
    QCOMPARE(cb.stats().successCount, 1);
    QCOMPARE_ENUM(cb.state(), CircuitState::Open); // a success while open does not close it
}

void tst_CircuitBreaker::canceledRunCountsNeither()
{
    Tasks<bool> tasks;
    auto cb = kompoz::circuitBreaker(kompoz::asyncRule<int>(tasks.fn()), 1, 30s);
    QFuture<Result<int>> f = cb.run(1);
    f.cancel();
    QVERIFY(kompoztest::waitFor(f));
    QVERIFY(f.isCanceled());
    QCOMPARE(f.resultCount(), 0);
    QTRY_VERIFY(tasks.isCanceled(0));
    const CircuitBreakerStats st = cb.stats();
    QCOMPARE(st.failureCount, 0);
    QCOMPARE(st.successCount, 0);
    QCOMPARE_ENUM(st.state, CircuitState::Closed);
}

void tst_CircuitBreaker::canceledRunFreesHalfOpenTrial()
{
    kompoz::ManualClock clock(kStart);
    Tasks<bool> tasks;
    auto cb = kompoz::circuitBreaker(kompoz::asyncRule<int>(tasks.fn()), 1, 1s, 1);
    cb.breaker()->setClock(&clock);
    QFuture<Result<int>> first = cb.run(0);
    tasks.finish(0, false);
    QVERIFY(kompoztest::waitFor(first));
    QCOMPARE_ENUM(cb.state(), CircuitState::Open);
    clock.advance(1s);
    QFuture<Result<int>> trial = cb.run(1);
    QCOMPARE(tasks.started(), 2);
    QCOMPARE_ENUM(cb.state(), CircuitState::HalfOpen);
    QFuture<Result<int>> extra = cb.run(2); // the only trial slot is taken
    QVERIFY(extra.isFinished());
    QCOMPARE(extra.result().ok, false);
    QCOMPARE(tasks.started(), 2);
    trial.cancel();
    QVERIFY(kompoztest::waitFor(trial));
    QVERIFY(tasks.isCanceled(1));
    QCOMPARE(cb.stats().failureCount, 1);
    QCOMPARE(cb.stats().successCount, 0);
    QCOMPARE_ENUM(cb.state(), CircuitState::HalfOpen);
    // The slot is free again: the next run is a trial.
    QFuture<Result<int>> again = cb.run(3);
    QCOMPARE(tasks.started(), 3);
    tasks.finish(2, true);
    QVERIFY(kompoztest::waitFor(again));
    QCOMPARE(again.result().ok, true);
    QCOMPARE_ENUM(cb.state(), CircuitState::Closed);
}

void tst_CircuitBreaker::exceptionCountsAsFailureAndReachesCaller()
{
    Switch s;
    s.throws = true;
    auto cb = kompoz::circuitBreaker(s.rule(), 2, 30s);
    for (int i = 0; i < 2; ++i) {
        QFuture<Result<int>> f = cb.run(i);
        QVERIFY(kompoztest::waitFor(f));
        QCOMPARE(kompoztest::exceptionMessage(f), QStringLiteral("inner threw"));
    }
    QCOMPARE(cb.stats().failureCount, 2);
    QCOMPARE_ENUM(cb.state(), CircuitState::Open);
    // An exception held by a pending task's future too.
    Tasks<bool> tasks;
    auto cb2 = kompoz::circuitBreaker(kompoz::asyncRule<int>(tasks.fn()), 1, 30s);
    QFuture<Result<int>> f = cb2.run(1);
    tasks.fail(0, std::runtime_error("late throw"));
    QVERIFY(kompoztest::waitFor(f));
    QCOMPARE(kompoztest::exceptionMessage(f), QStringLiteral("late throw"));
    QCOMPARE_ENUM(cb2.state(), CircuitState::Open);
}

using Maker = std::function<void()>;
Q_DECLARE_METATYPE(Maker)

void tst_CircuitBreaker::badArguments_data()
{
    static Switch s;
    QTest::addColumn<Maker>("make");
    QTest::addColumn<QString>("parameter");
    QTest::newRow("failureThreshold 0")
            << Maker([] { kompoz::circuitBreaker(s.rule(), 0); }) << "failureThreshold";
    QTest::newRow("failureThreshold -1")
            << Maker([] { kompoz::circuitBreaker(s.rule(), -1); }) << "failureThreshold";
    QTest::newRow("recoveryTimeout negative")
            << Maker([] { kompoz::circuitBreaker(s.rule(), 5, -1s); }) << "recoveryTimeout";
    QTest::newRow("halfOpenMaxCalls 0")
            << Maker([] { kompoz::circuitBreaker(s.rule(), 5, 1s, 0); }) << "halfOpenMaxCalls";
    QTest::newRow("empty inner") << Maker([] {
        kompoz::circuitBreaker(kompoz::AsyncCombinator<int>());
    }) << "inner";
    QTest::newRow("setter failureThreshold") << Maker([] {
        kompoz::CircuitBreaker b;
        b.setFailureThreshold(0);
    }) << "failureThreshold";
    QTest::newRow("setter halfOpenMaxCalls") << Maker([] {
        kompoz::CircuitBreaker b;
        b.setHalfOpenMaxCalls(0);
    }) << "halfOpenMaxCalls";
}

void tst_CircuitBreaker::badArguments()
{
    QFETCH(Maker, make);
    QFETCH(QString, parameter);
    const QString message = kompoztest::invalidArgumentMessage(make);
    QVERIFY2(message.contains(parameter), qPrintable(message));
}

void tst_CircuitBreaker::copiesShareState()
{
    Switch s;
    s.pass = false;
    auto cb = kompoz::circuitBreaker(s.rule(), 1, 30s);
    auto copy = cb;
    kompoz::AsyncCombinator<int> base = cb; // as a plain handle, still the same breaker
    runNow(base);
    QCOMPARE_ENUM(copy.state(), CircuitState::Open);
    QCOMPARE(copy.breaker(), cb.breaker());
    // A zero recovery timeout is allowed: half-open at the next run.
    auto zero = kompoz::circuitBreaker(s.rule(), 1, 0s);
    runNow(zero);
    s.pass = true;
    QCOMPARE(runNow(zero).ok, true);
    QCOMPARE_ENUM(zero.state(), CircuitState::Closed);
}

void tst_CircuitBreaker::rejectedRunSkipsInnerLayers()
{
    Tasks<bool> tasks;
    auto timed = kompoz::withTimeout(kompoz::asyncRule<int>(tasks.fn()), 50ms);
    auto lim = kompoz::limited(timed, 1);
    auto cb = kompoz::circuitBreaker(lim, 1, 30s);
    QFuture<Result<int>> first = cb.run(1);
    QVERIFY(kompoztest::waitFor(first)); // times out: a failure, the breaker opens
    QCOMPARE_ENUM(cb.state(), CircuitState::Open);
    QCOMPARE(timed.policy()->timedOutCount(), 1);
    const int started = tasks.started();
    QFuture<Result<int>> rejected = cb.run(2);
    QVERIFY(rejected.isFinished());
    QCOMPARE(rejected.result().ok, false);
    QCOMPARE(tasks.started(), started);
    QCOMPARE(lim.pool()->peakActive(), 1);
    QCOMPARE(lim.pool()->active(), 0); // took no slot
    QCOMPARE(timed.policy()->timedOutCount(), 1); // armed no deadline
    QVERIFY(timed.timedOut()); // still the last real run's verdict
}

void tst_CircuitBreaker::breakerObjectThreadAffinity()
{
    // Made in a worker thread: it belongs there, as any QObject.
    std::shared_ptr<kompoz::CircuitBreaker> made;
    bool madeThere = false;
    std::thread t([&] {
        made = std::make_shared<kompoz::CircuitBreaker>(1, 30s, 1);
        madeThere = made->thread() == QThread::currentThread();
        made->moveToThread(QCoreApplication::instance()->thread()); // may be moved
    });
    t.join();
    QVERIFY(madeThere);
    QCOMPARE(made->thread(), thread());

    // Moved to a thread with an event loop: its count properties are announced there, and its
    // transitions still reach a receiver here.
    QThread other;
    kompoztest::startThread(other);
    Switch s;
    s.pass = false;
    auto cb = kompoz::circuitBreaker(s.rule(), made);
    QObject receiver;
    std::atomic<QThread *> countThread {nullptr};
    std::atomic<int> opened {0};
    connect(
            made.get(), &kompoz::CircuitBreaker::failureCountChanged, made.get(),
            [&](int) { countThread = QThread::currentThread(); }, Qt::DirectConnection);
    connect(made.get(), &kompoz::CircuitBreaker::opened, &receiver, [&] { ++opened; });
    made->moveToThread(&other);
    runNow(cb);
    QTRY_COMPARE(opened.load(), 1);
    QTRY_COMPARE(countThread.load(), &other);
    made->disconnect(); // the direct lambda captures locals of this function
    kompoztest::runIn(made.get(), [&] { made->moveToThread(thread()); });
    QVERIFY(kompoztest::stopThread(other));
}

QTEST_GUILESS_MAIN(tst_CircuitBreaker)
#include "tst_circuitbreaker.moc"
