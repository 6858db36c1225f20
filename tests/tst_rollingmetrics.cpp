// SPDX-License-Identifier: MIT
#include <kompoz/kompoz.h>

#include <QPromise>
#include <QSignalSpy>
#include <QTest>

#include <chrono>
#include <memory>
#include <stdexcept>

using namespace std::chrono_literals;
using kompoz::Outcome;

class tst_RollingMetrics : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void emptyMetricsReadAsZero();
    void windowSlides();
    void throughputUsesElapsedTimeUntilTheWindowIsFull();
    void successRateIgnoresCanceledRuns();
    void percentiles();
    void rejectedRunsKeepOutOfLatency();
    void samplesAreOnePerSecondOldestFirst();
    void figuresChangedOncePerSecondMoved();
    void badArguments_data();
    void badArguments();
    void measuredRecordsSuccessAndFailure();
    void measuredRecordsRejected();
    void measuredRecordsTimedOut();
    void measuredRecordsCanceled();
    void withMetricsRejectsNull();
};

void tst_RollingMetrics::emptyMetricsReadAsZero()
{
    kompoz::ManualClock clock;
    kompoz::RollingMetrics metrics;
    metrics.setClock(&clock);
    QCOMPARE(metrics.windowCount(), 0);
    QCOMPARE(metrics.successRate(), 1.0);
    QCOMPARE(metrics.throughput(), 0.0);
    QCOMPARE(metrics.p99LatencyMs(), 0.0);
    QCOMPARE(metrics.samples(60).size(), 60);
}

void tst_RollingMetrics::windowSlides()
{
    // arrange
    kompoz::ManualClock clock;
    kompoz::RollingMetrics metrics(10s, 60s);
    metrics.setClock(&clock);

    // act: 5 successes in second 0, 3 failures in second 4
    for (int i = 0; i < 5; ++i)
        metrics.record(Outcome::Success, 10ms);
    clock.advance(4s);
    for (int i = 0; i < 3; ++i)
        metrics.record(Outcome::Failure, 10ms);

    // assert: the current second does not count yet
    QCOMPARE(metrics.successCount(), 5);
    QCOMPARE(metrics.failureCount(), 0);
    clock.advance(1s);
    QCOMPARE(metrics.successCount(), 5);
    QCOMPARE(metrics.failureCount(), 3);
    QCOMPARE(metrics.windowCount(), 8);
    // second 0 leaves the window at t = 11 s (window [1, 10])
    clock.advance(5s);
    QCOMPARE(metrics.successCount(), 5);
    clock.advance(1s);
    QCOMPARE(metrics.successCount(), 0);
    QCOMPARE(metrics.failureCount(), 3);
    clock.advance(4s);
    QCOMPARE(metrics.windowCount(), 0);
    // cumulative totals do not slide
    QCOMPARE(metrics.totalCount(Outcome::Success), 5);
    QCOMPARE(metrics.totalCount(Outcome::Failure), 3);
}

void tst_RollingMetrics::throughputUsesElapsedTimeUntilTheWindowIsFull()
{
    kompoz::ManualClock clock;
    kompoz::RollingMetrics metrics(10s, 60s);
    metrics.setClock(&clock);
    for (int s = 0; s < 20; ++s) {
        for (int i = 0; i < 100; ++i)
            metrics.record(Outcome::Success, 1ms);
        clock.advance(1s);
        // 100 per second from the first completed second on, not 10 per second
        QCOMPARE(metrics.throughput(), 100.0);
    }
    clock.advance(5s);
    QCOMPARE(metrics.throughput(), 50.0); // 5 empty seconds of 10
}

void tst_RollingMetrics::successRateIgnoresCanceledRuns()
{
    kompoz::ManualClock clock;
    kompoz::RollingMetrics metrics;
    metrics.setClock(&clock);
    for (int i = 0; i < 6; ++i)
        metrics.record(Outcome::Success, 1ms);
    metrics.record(Outcome::Failure, 1ms);
    metrics.record(Outcome::TimedOut, 1ms);
    metrics.record(Outcome::Rejected, 0ns);
    metrics.record(Outcome::Error, 1ms);
    metrics.record(Outcome::Canceled, 1ms);
    clock.advance(1s);
    QCOMPARE(metrics.successRate(), 0.6);
    QCOMPARE(metrics.timedOutCount(), 1);
    QCOMPARE(metrics.rejectedCount(), 1);
    QCOMPARE(metrics.errorCount(), 1);
    QCOMPARE(metrics.canceledCount(), 1);
    QCOMPARE(metrics.windowCount(), 11);
}

void tst_RollingMetrics::percentiles()
{
    kompoz::ManualClock clock;
    kompoz::RollingMetrics metrics;
    metrics.setClock(&clock);
    // 1 ms .. 1000 ms, spread over several seconds of the window
    for (int ms = 1; ms <= 1000; ++ms) {
        metrics.record(Outcome::Success, std::chrono::milliseconds(ms));
        if (ms % 250 == 0)
            clock.advance(1s);
    }
    clock.advance(1s);
    // log-scale bins 9 % wide: within 6 % of the exact value
    QVERIFY2(qAbs(metrics.p50LatencyMs() - 500) < 30,
             qPrintable(QString::number(metrics.p50LatencyMs())));
    QVERIFY2(qAbs(metrics.p90LatencyMs() - 900) < 54,
             qPrintable(QString::number(metrics.p90LatencyMs())));
    QVERIFY2(qAbs(metrics.p99LatencyMs() - 990) < 60,
             qPrintable(QString::number(metrics.p99LatencyMs())));
    QVERIFY(metrics.p50LatencyMs() < metrics.p90LatencyMs());
    QVERIFY(metrics.p90LatencyMs() <= metrics.p99LatencyMs());

    // sub-millisecond latencies keep their precision
    kompoz::RollingMetrics fast;
    fast.setClock(&clock);
    for (int i = 0; i < 100; ++i)
        fast.record(Outcome::Success, 120us);
    clock.advance(1s);
    QVERIFY2(qAbs(fast.p50LatencyMs() - 0.120) < 0.012,
             qPrintable(QString::number(fast.p50LatencyMs())));
}

void tst_RollingMetrics::rejectedRunsKeepOutOfLatency()
{
    kompoz::ManualClock clock;
    kompoz::RollingMetrics metrics;
    metrics.setClock(&clock);
    for (int i = 0; i < 10; ++i)
        metrics.record(Outcome::Success, 100ms);
    for (int i = 0; i < 1000; ++i)
        metrics.record(Outcome::Rejected, 0ns);
    clock.advance(1s);
    QVERIFY(qAbs(metrics.p50LatencyMs() - 100) < 10);
    const auto samples = metrics.samples(1);
    QCOMPARE(samples.size(), 1);
    QVERIFY(qAbs(samples.front().meanLatencyMs - 100) < 0.001);
}

void tst_RollingMetrics::samplesAreOnePerSecondOldestFirst()
{
    kompoz::ManualClock clock;
    kompoz::RollingMetrics metrics(10s, 30s);
    metrics.setClock(&clock);
    for (int s = 0; s < 5; ++s) {
        for (int i = 0; i <= s; ++i)
            metrics.record(Outcome::Success, std::chrono::milliseconds(10 * (s + 1)));
        metrics.record(Outcome::Rejected, 0ns);
        clock.advance(1s);
    }
    const auto samples = metrics.samples(8);
    QCOMPARE(samples.size(), 8);
    // 3 seconds before the clock was set are empty, then 1..5 successes
    for (int i = 0; i < 3; ++i)
        QCOMPARE(samples[i].total(), 0);
    for (int s = 0; s < 5; ++s) {
        const auto &sample = samples[3 + s];
        QCOMPARE(sample.second, qint64(s));
        QCOMPARE(sample.count(Outcome::Success), s + 1);
        QCOMPARE(sample.count(Outcome::Rejected), 1);
        QVERIFY(qAbs(sample.meanLatencyMs - 10.0 * (s + 1)) < 0.001);
        QVERIFY(qAbs(sample.p90LatencyMs - 10.0 * (s + 1)) < 10.0 * (s + 1) * 0.1);
    }
    QCOMPARE(metrics.samples(1000).size(), 30); // at most the history
    QCOMPARE(metrics.currentSecond(), qint64(5));
}

void tst_RollingMetrics::figuresChangedOncePerSecondMoved()
{
    kompoz::ManualClock clock;
    kompoz::RollingMetrics metrics;
    metrics.setClock(&clock);
    QSignalSpy spy(&metrics, &kompoz::RollingMetrics::figuresChanged);
    QVERIFY(spy.isValid());
    metrics.refresh();
    QCOMPARE(spy.count(), 1); // the first announcement
    for (int i = 0; i < 1000; ++i)
        metrics.record(Outcome::Success, 1ms);
    QCoreApplication::processEvents(); // the coalesced flush: the window has not moved
    metrics.refresh();
    QCOMPARE(spy.count(), 1);
    clock.advance(1s);
    metrics.refresh();
    QCOMPARE(spy.count(), 2);
    metrics.refresh();
    QCOMPARE(spy.count(), 2);
    // flushed by records, in the object's thread
    clock.advance(1s);
    metrics.record(Outcome::Failure, 1ms);
    QTRY_COMPARE(spy.count(), 3);
}

void tst_RollingMetrics::badArguments_data()
{
    QTest::addColumn<int>("window");
    QTest::addColumn<int>("history");
    QTest::addColumn<QString>("parameter");
    QTest::newRow("zero window") << 0 << 60 << QStringLiteral("window");
    QTest::newRow("negative window") << -1 << 60 << QStringLiteral("window");
    QTest::newRow("zero history") << 10 << 0 << QStringLiteral("history");
    QTest::newRow("history over an hour") << 10 << 3601 << QStringLiteral("history");
}

void tst_RollingMetrics::badArguments()
{
    QFETCH(int, window);
    QFETCH(int, history);
    QFETCH(QString, parameter);
    try {
        kompoz::RollingMetrics metrics {std::chrono::seconds(window),
                                        std::chrono::seconds(history)};
        QFAIL("no exception");
    } catch (const std::invalid_argument &e) {
        QVERIFY2(QString::fromUtf8(e.what()).contains(parameter), e.what());
    }
}

void tst_RollingMetrics::measuredRecordsSuccessAndFailure()
{
    auto metrics = std::make_shared<kompoz::RollingMetrics>();
    auto positive = kompoz::asyncRule<int>([](int x) { return x > 0; }, QStringLiteral("positive"));
    auto measured = kompoz::withMetrics(positive, metrics);
    QVERIFY(measured.repr().contains(QLatin1String("AsyncMeasured(")));
    QVERIFY(measured.repr().contains(QLatin1String("positive")));
    QCOMPARE(measured.metrics(), metrics.get());
    measured.run(1).waitForFinished();
    measured.run(-1).waitForFinished();
    measured.run(2, [](const kompoz::Completion<int> &) {});
    QCOMPARE(metrics->totalCount(Outcome::Success), 2);
    QCOMPARE(metrics->totalCount(Outcome::Failure), 1);

    auto owned = kompoz::withMetrics(positive); // makes its own
    QVERIFY(owned.metrics());
    owned.run(3).waitForFinished();
    QCOMPARE(owned.metrics()->totalCount(Outcome::Success), 1);
}

void tst_RollingMetrics::measuredRecordsRejected()
{
    auto failing = kompoz::asyncRule<int>([](int) { return false; });
    auto service = kompoz::withMetrics(kompoz::circuitBreaker(failing, 1, 30s));
    service.run(0).waitForFinished(); // opens the breaker
    service.run(0).waitForFinished();
    service.run(0).waitForFinished();
    QCOMPARE(service.metrics()->totalCount(Outcome::Failure), 1);
    QCOMPARE(service.metrics()->totalCount(Outcome::Rejected), 2);
}

void tst_RollingMetrics::measuredRecordsTimedOut()
{
    // A task that never answers: only the timeout ends it.
    auto pending = std::make_shared<QList<std::shared_ptr<QPromise<bool>>>>();
    auto hang = kompoz::asyncRule<int>([pending](int) {
        auto promise = std::make_shared<QPromise<bool>>();
        promise->start();
        pending->append(promise);
        return promise->future();
    });
    auto service = kompoz::withMetrics(kompoz::withTimeout(hang, 30ms));
    const auto started = std::chrono::steady_clock::now();
    auto future = service.run(1);
    future.waitForFinished();
    QCOMPARE(future.result().ok, false);
    QCOMPARE(service.metrics()->totalCount(Outcome::TimedOut), 1);
    QCOMPARE(service.metrics()->totalCount(Outcome::Success), 0);
    // the latency recorded is the time to the timeout
    QTRY_VERIFY(service.metrics()->p50LatencyMs() > 0); // once its second completed
    const double p50 = service.metrics()->p50LatencyMs();
    const double elapsed = std::chrono::duration<double, std::milli>(
                                   std::chrono::steady_clock::now() - started)
                                   .count();
    QVERIFY2(p50 >= 25 && p50 <= elapsed * 1.1, qPrintable(QString::number(p50)));
    // The task holds its promise, the promise's continuation holds the run: end the cycle.
    for (const auto &promise : std::as_const(*pending))
        promise->finish();
    pending->clear();
}

void tst_RollingMetrics::measuredRecordsCanceled()
{
    auto promise = std::make_shared<QPromise<bool>>();
    auto hang = kompoz::asyncRule<int>([promise](int) {
        promise->start();
        return promise->future();
    });
    auto service = kompoz::withMetrics(hang);
    auto future = service.run(1);
    future.cancel();
    future.waitForFinished();
    QCOMPARE(service.metrics()->totalCount(Outcome::Canceled), 1);
    promise->finish(); // cooperative work notices the cancellation and stops
}

void tst_RollingMetrics::withMetricsRejectsNull()
{
    auto positive = kompoz::asyncRule<int>([](int x) { return x > 0; });
    try {
        kompoz::withMetrics(positive, std::shared_ptr<kompoz::RollingMetrics>());
        QFAIL("no exception");
    } catch (const std::invalid_argument &e) {
        QVERIFY2(QString::fromUtf8(e.what()).contains(QLatin1String("metrics")), e.what());
    }
    try {
        kompoz::withMetrics(kompoz::AsyncCombinator<int>());
        QFAIL("no exception");
    } catch (const std::invalid_argument &e) {
        QVERIFY2(QString::fromUtf8(e.what()).contains(QLatin1String("inner")), e.what());
    }
}

QTEST_GUILESS_MAIN(tst_RollingMetrics)
#include "tst_rollingmetrics.moc"
