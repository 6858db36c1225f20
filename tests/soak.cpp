// SPDX-License-Identifier: MIT
// kompoz-soak: steady load through every combinator for a set time, printing memory and handle
// counts every 10 s, to show that nothing grows. Not part of CI (it runs for minutes):
//   build/ci/tests/kompoz-soak --seconds 600 --rate 3000
// Each line: elapsed s, runs so far, VmRSS and VmHWM (KiB), open file descriptors, threads,
// pending timer deadlines and watched runs inside the library.

#include <kompoz/kompoz.h>

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QPromise>
#include <QThread>
#include <QTimer>

#include <cstdio>
#include <deque>
#include <memory>
#include <random>

using namespace std::chrono_literals;

namespace {

qint64 statusField(const char *name)
{
    QFile f(QStringLiteral("/proc/self/status"));
    if (!f.open(QIODevice::ReadOnly))
        return -1;
    const QByteArray key = QByteArray(name) + ':';
    for (const QByteArray &line : f.readAll().split('\n')) {
        if (line.startsWith(key))
            return line.mid(key.size()).trimmed().split(' ').value(0).toLongLong();
    }
    return -1;
}

qint64 openFds()
{
    return QDir(QStringLiteral("/proc/self/fd"))
            .entryList(QDir::NoDotAndDotDot | QDir::AllEntries)
            .size();
}

//! Tasks that answer after a random delay, from a thread of their own; cancelled ones stop.
class Backend : public QObject
{
public:
    Backend()
    {
        moveToThread(&m_thread);
        m_thread.start();
        QMetaObject::invokeMethod(this, [this] {
            auto *t = new QTimer(this);
            QObject::connect(t, &QTimer::timeout, this, [this] { tick(); });
            t->start(1);
        });
    }
    ~Backend() override
    {
        // The tick timer lives in m_thread: stop it there.
        QMetaObject::invokeMethod(
                this, [this] { qDeleteAll(findChildren<QTimer *>()); },
                Qt::BlockingQueuedConnection);
        m_thread.quit();
        m_thread.wait();
    }
    QFuture<bool> call(int seed)
    {
        auto p = std::make_shared<QPromise<bool>>();
        p->start();
        QFuture<bool> f = p->future();
        const int kind = seed % 20;
        const bool hang = kind == 19;
        const bool verdict = kind < 17;
        std::lock_guard<std::mutex> lock(m_mutex);
        m_pending.push_back(
                {p, verdict, hang,
                 std::chrono::steady_clock::now() + std::chrono::milliseconds(seed % 30)});
        return f;
    }

private:
    struct Item
    {
        std::shared_ptr<QPromise<bool>> promise;
        bool verdict;
        bool hang;
        std::chrono::steady_clock::time_point due;
    };
    void tick()
    {
        std::vector<Item> done;
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            const auto now = std::chrono::steady_clock::now();
            for (size_t i = 0; i < m_pending.size();) {
                if (m_pending[i].promise->isCanceled() ||
                    (!m_pending[i].hang && m_pending[i].due <= now)) {
                    done.push_back(std::move(m_pending[i]));
                    m_pending[i] = std::move(m_pending.back());
                    m_pending.pop_back();
                } else {
                    ++i;
                }
            }
        }
        for (Item &it : done) {
            if (!it.promise->isCanceled())
                it.promise->addResult(it.verdict);
            it.promise->finish();
        }
    }
    QThread m_thread;
    std::mutex m_mutex;
    std::vector<Item> m_pending;
};

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.addHelpOption();
    parser.addOption({QStringLiteral("seconds"), QStringLiteral("How long to run."),
                      QStringLiteral("s"), QStringLiteral("600")});
    parser.addOption({QStringLiteral("rate"), QStringLiteral("Runs per second."),
                      QStringLiteral("n"), QStringLiteral("3000")});
    parser.process(app);
    const int seconds = parser.value(QStringLiteral("seconds")).toInt();
    const int rate = parser.value(QStringLiteral("rate")).toInt();
    if (seconds <= 0 || rate <= 0) {
        std::fprintf(stderr, "kompoz-soak: --seconds and --rate must be positive\n");
        return 2;
    }

    Backend backend;
    auto call = kompoz::asyncRule<int>([&backend](int seed) { return backend.call(seed); },
                                       QStringLiteral("backend"));
    auto quick = kompoz::asyncRule<int>([](int seed) { return seed % 7 != 0; },
                                        QStringLiteral("quick"));
    auto bump = kompoz::asyncPipe<int>([](int x) { return x + 1; }, QStringLiteral("bump"));
    auto metrics = std::make_shared<kompoz::RollingMetrics>();
    // Every combinator at once: logic, parallel runs, one pool shared by two limiters, timeouts
    // (every call that can hang is under one), a breaker.
    auto timedCall = kompoz::withTimeout(kompoz::limited(call, 64, QStringLiteral("soak")), 50ms);
    auto guarded = kompoz::withMetrics(kompoz::circuitBreaker(timedCall, 10, 200ms, 2), metrics);
    auto other = kompoz::withTimeout(kompoz::limited(call, 64, QStringLiteral("soak")), 80ms);
    // The policies beyond kompoz: retries with a backoff on the timer service, a hedge, a rate
    // limit that queues and rejects, a ratio breaker, and a fallback around them.
    kompoz::CircuitBreakerOptions ratio;
    ratio.failureRatio = 0.5;
    ratio.minimumThroughput = 20;
    ratio.windowSize = 50;
    ratio.recoveryTimeout = 100ms;
    ratio.slowCallDuration = 40ms;
    ratio.breakDurationMultiplier = 2;
    ratio.maxBreakDuration = 1s;
    auto policies = kompoz::fallback(
            kompoz::rateLimited(kompoz::retry(kompoz::hedged(timedCall, 10ms), 2, 2ms), rate / 4,
                                1s, 0, 50),
            kompoz::circuitBreaker(other, ratio));
    auto tree = (quick & bump >> guarded) | kompoz::parallelOr<int>({guarded, ~quick}) |
            kompoz::parallelAnd<int>({quick, other}, true) | policies;

    std::mt19937 rng(42);
    qint64 runs = 0;
    qint64 canceledByUs = 0;
    std::deque<QFuture<kompoz::Result<int>>> inFlight;
    QElapsedTimer clock;
    clock.start();
    const qint64 start = clock.elapsed();

    auto report = [&] {
        std::printf("%6.0f s  %10lld runs  rss %7lld KiB  hwm %7lld KiB  fds %3lld  threads %3lld  "
                    "timers %5d  watched %5d  success %.1f %%\n",
                    (clock.elapsed() - start) / 1000.0, runs, statusField("VmRSS"),
                    statusField("VmHWM"), openFds(), statusField("Threads"),
                    kompoz::detail::TimerService::instance().pendingTimers(),
                    kompoz::detail::TimerService::instance().watchedRuns(),
                    metrics->successRate() * 100);
        std::fflush(stdout);
    };

    QTimer load;
    QObject::connect(&load, &QTimer::timeout, &app, [&] {
        const qint64 due = (clock.elapsed() - start) * rate / 1000;
        while (runs < due) {
            const int seed = int(rng() & 0x7fffffff);
            if (seed % 3 == 0) {
                tree.run(seed, &app, [](const kompoz::Completion<int> &) {});
            } else {
                QFuture<kompoz::Result<int>> f = tree.run(seed);
                if (seed % 50 == 1) {
                    f.cancel();
                    ++canceledByUs;
                }
                inFlight.push_back(f);
            }
            ++runs;
        }
        while (!inFlight.empty() && inFlight.front().isFinished())
            inFlight.pop_front();
    });
    load.start(5);
    QTimer reporter;
    QObject::connect(&reporter, &QTimer::timeout, &app, report);
    reporter.start(10000);
    report();
    QTimer::singleShot(seconds * 1000, &app, [&] {
        load.stop();
        QTimer::singleShot(1000, &app, [&] {
            report();
            app.quit();
        });
    });
    return app.exec();
}
