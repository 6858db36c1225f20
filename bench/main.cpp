// SPDX-License-Identifier: MIT
// kompoz-bench: runs every workload group in its own child process (this program again, with
// --workload GROUP), each workload beside its baseline, then prints the tables, the peers'
// figures beside ours (--peers FILE, the output of ../shared/peers/bench_node_peers.cjs) and
// the targets of the performance issue. See README.md.

#include "harness.h"
#include "workloads.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QFile>
#include <QJsonDocument>
#include <QMap>
#include <QProcess>
#include <QSysInfo>
#include <QTextStream>
#include <QThread>

#include <cstdio>
#include <functional>
#include <optional>

namespace {
using bench::median;

const QByteArray ResultTag = QByteArrayLiteral("@@kompoz-bench@@ ");

struct Settings
{
    bool quick = false;
    int reps = 5;
    qint64 nSeq = 200000;
    qint64 nBurst = 100000;
    QList<qint64> sizes {1000, 10000, 100000, 1000000};
    QList<int> threads {1, 2, 8};
};

Settings settingsFor(bool quick, int reps)
{
    Settings s;
    s.quick = quick;
    if (quick) {
        s.reps = 3;
        s.nSeq = 50000;
        s.sizes = {1000, 10000, 100000};
    }
    if (reps > 0)
        s.reps = reps;
    return s;
}

// ---- Child side -------------------------------------------------------------------------------

std::vector<bench::Variant> variantsOf(const QString &group, const Settings &s,
                                       bench::GroupOptions *options)
{
    options->reps = s.reps;
    const QStringList parts = group.split(QLatin1Char(':'));
    const QString name = parts.value(0);
    const qint64 arg = parts.value(1).toLongLong();
    if (name == QLatin1String("W1"))
        return bench::breakerGroup(s.nSeq);
    if (name == QLatin1String("W2"))
        return bench::pipelineGroup(s.nSeq);
    if (name == QLatin1String("W5"))
        return bench::openBreakerGroup(s.nSeq);
    if (name == QLatin1String("M"))
        return bench::metricsGroup(s.nSeq * 5);
    if (name == QLatin1String("P"))
        return bench::policiesGroup(s.nSeq);
    if (name == QLatin1String("W3") || name == QLatin1String("W4")) {
        if (arg >= 1000000) { // a warm-up at full size would double the longest runs
            options->warmupN = 10000;
            options->reps = 1;
        } else if (arg <= 10000) {
            options->reps = s.reps * 2 + 1; // short runs, noisier: more of them
        }
        return name == QLatin1String("W3") ? bench::limiterGroup(arg) : bench::timeoutGroup(arg);
    }
    if (name == QLatin1String("T"))
        return bench::threadsGroup(int(arg), s.nSeq, s.nBurst);
    return {};
}

//! For profilers (perf, callgrind): one pass of one variant, `n` calls, no warm-up, no output.
int runProfile(const QString &group, const QString &id, qint64 n, const Settings &s)
{
    bench::GroupOptions options;
    for (const bench::Variant &v : variantsOf(group, s, &options)) {
        if (v.id == id) {
            QJsonObject checks;
            const qint64 ns = v.run(n > 0 ? n : v.n, checks);
            std::fprintf(stderr, "%s: %.1f ns per call\n", qPrintable(id),
                         double(ns) / double(n > 0 ? n : v.n));
            return 0;
        }
    }
    std::fprintf(stderr, "kompoz-bench: no %s in %s\n", qPrintable(id), qPrintable(group));
    return 1;
}

int runChild(const QString &group, const QString &memId, const Settings &s)
{
    bench::GroupOptions options;
    const std::vector<bench::Variant> variants = variantsOf(group, s, &options);
    if (variants.empty()) {
        std::fprintf(stderr, "kompoz-bench: unknown workload group %s\n", qPrintable(group));
        return 1;
    }
    QJsonArray out;
    if (memId.isEmpty()) {
        out = bench::runGroup(group, variants, options);
    } else {
        // One burst in a fresh process: peak RSS belongs to this workload alone.
        for (const bench::Variant &v : variants) {
            if (v.id != memId)
                continue;
            QJsonObject checks;
            v.run(qMin<qint64>(1000, v.n), checks); // Qt, the timer thread, first allocations
            const qint64 before = bench::rssKb();
            const qint64 ns = v.run(v.n, checks);
            const qint64 peak = bench::peakRssKb();
            QJsonObject o;
            o.insert(QStringLiteral("group"), group);
            o.insert(QStringLiteral("id"), v.id);
            o.insert(QStringLiteral("n"), v.n);
            o.insert(QStringLiteral("once_ms"), double(ns) / 1e6);
            o.insert(QStringLiteral("rss_before_kb"), before);
            o.insert(QStringLiteral("peak_rss_kb"), peak);
            o.insert(QStringLiteral("rss_added_bytes_per_run"),
                     double(peak - before) * 1024.0 / double(v.n));
            out.append(o);
        }
    }
    std::printf("%s%s\n", ResultTag.constData(),
                QJsonDocument(out).toJson(QJsonDocument::Compact).constData());
    std::fflush(stdout);
    return 0;
}

// ---- Driver side ------------------------------------------------------------------------------

QJsonArray spawn(const QStringList &args)
{
    QProcess p;
    p.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    p.start(QCoreApplication::applicationFilePath(), args);
    if (!p.waitForFinished(-1) || p.exitCode() != 0) {
        std::fprintf(stderr, "kompoz-bench: child %s failed\n", qPrintable(args.join(u' ')));
        return {};
    }
    for (const QByteArray &line : p.readAllStandardOutput().split('\n')) {
        if (line.startsWith(ResultTag))
            return QJsonDocument::fromJson(line.mid(ResultTag.size())).array();
    }
    return {};
}

QString fileLine(const QString &path, const QByteArray &key)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    for (const QByteArray &line : f.readAll().split('\n')) {
        if (line.startsWith(key))
            return QString::fromUtf8(line.mid(line.indexOf(':') + 1).trimmed());
    }
    return {};
}

QJsonObject machine()
{
    QJsonObject m;
    m.insert(QStringLiteral("cpu"), fileLine(QStringLiteral("/proc/cpuinfo"), "model name"));
    m.insert(QStringLiteral("cores"), QThread::idealThreadCount());
    m.insert(QStringLiteral("kernel"), QSysInfo::kernelVersion());
    m.insert(QStringLiteral("os"), QSysInfo::prettyProductName());
    m.insert(QStringLiteral("qt"), QString::fromLatin1(qVersion()));
    m.insert(QStringLiteral("compiler"), QStringLiteral("g++ " __VERSION__));
    m.insert(QStringLiteral("date"), QDateTime::currentDateTimeUtc().toString(Qt::ISODate));
    return m;
}

class Report
{
public:
    QTextStream out {stdout};
    QMap<QString, QJsonObject> rows; // "group/id"
    QMap<QString, QJsonObject> mem; // "group/id"
    QMap<QString, QJsonObject> peers; // "peer:workload"
    QJsonArray targets;
    int failed = 0;

    std::optional<QJsonObject> row(const QString &group, const QString &id) const
    {
        auto it = rows.find(group + u'/' + id);
        if (it == rows.end())
            return std::nullopt;
        return *it;
    }
    double num(const QString &group, const QString &id, const char *field) const
    {
        auto r = row(group, id);
        return r ? r->value(QLatin1String(field)).toDouble(qQNaN()) : qQNaN();
    }

    void target(const QString &what, const QString &measured, bool pass)
    {
        QJsonObject t;
        t.insert(QStringLiteral("target"), what);
        t.insert(QStringLiteral("measured"), measured);
        t.insert(QStringLiteral("pass"), pass);
        targets.append(t);
        if (!pass)
            ++failed;
    }
};

QString fmt(double v, int decimals = 0)
{
    if (qIsNaN(v))
        return QStringLiteral("-");
    return QString::number(v, 'f', decimals);
}

QString fmtInt(double v)
{
    if (qIsNaN(v))
        return QStringLiteral("-");
    QString s = QString::number(qRound64(v));
    for (int i = s.size() - 3; i > (s.startsWith(u'-') ? 1 : 0); i -= 3)
        s.insert(i, u',');
    return s;
}

QString mib(double kb)
{
    return qIsNaN(kb) || kb <= 0 ? QStringLiteral("-") : QString::number(kb / 1024.0, 'f', 1);
}

void printSequential(Report &r, const QStringList &groups)
{
    r.out << "\n## Sequential calls (W1, W2, W5"
          << (groups.contains(QLatin1String("M")) ? ", metrics" : "")
          << (groups.contains(QLatin1String("P")) ? ", policies" : "")
          << "): each workload beside its baseline in one process\n\n"
          << "| group | workload | ns/call | baseline | baseline ns | ratio | added ns | CPU ratio "
             "| "
             "CPU added ns | calls/s | "
             "allocs/call | QFuture states/call | peak RSS MiB |\n"
          << "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
             "---: |\n";
    for (auto it = r.rows.cbegin(); it != r.rows.cend(); ++it) {
        const QJsonObject &o = *it;
        const QString group = o.value(QLatin1String("group")).toString();
        if (!groups.contains(group))
            continue;
        const bool hasBase = o.contains(QLatin1String("baseline"));
        r.out << "| " << group << " | " << o.value(QLatin1String("id")).toString() << " | "
              << fmt(o.value(QLatin1String("ns_per_call")).toDouble(), 1) << " | "
              << (hasBase ? o.value(QLatin1String("baseline")).toString()
                          : QStringLiteral("(baseline)"))
              << " | "
              << (hasBase ? fmt(o.value(QLatin1String("baseline_ns_per_call")).toDouble(), 1)
                          : QString())
              << " | "
              << (hasBase ? fmt(o.value(QLatin1String("ratio")).toDouble(), 2) + u'x' : QString())
              << " | "
              << (hasBase ? QStringLiteral("%1%2").arg(
                                    o.value(QLatin1String("added_ns_per_call")).toDouble() >= 0
                                            ? QStringLiteral("+")
                                            : QString(),
                                    fmt(o.value(QLatin1String("added_ns_per_call")).toDouble(), 0))
                          : QString())
              << " | "
              << (hasBase ? fmt(o.value(QLatin1String("cpu_ratio")).toDouble(), 2) + u'x'
                          : QString())
              << " | "
              << (hasBase ? fmt(o.value(QLatin1String("cpu_added_ns_per_call")).toDouble(), 0)
                          : QString())
              << " | " << fmtInt(o.value(QLatin1String("calls_per_s")).toDouble()) << " | "
              << fmt(o.value(QLatin1String("allocs_per_call")).toDouble(), 2) << " | "
              << fmt(o.value(QLatin1String("qfuture_states_per_call")).toDouble(), 2) << " | "
              << mib(o.value(QLatin1String("process_peak_rss_kb")).toDouble()) << " |\n";
    }
}

void printBursts(Report &r, qint64 n)
{
    r.out << "\n## Bursts of " << fmtInt(double(n))
          << " runs started at once (W3 through 64 slots, W4 with 10 s timeouts)\n\n"
          << "| workload | wall ms | us/run | bare ms | ratio | added us/run | CPU ratio | CPU "
             "added us/run | heap B/pending run "
             "| "
             "vs bare | QObjects made/run | peak RSS MiB (own process) | RSS B/run | checks |\n"
          << "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
             "---: | --- "
             "|\n";
    for (const char *w : {"W3", "W4"}) {
        const QString group = QStringLiteral("%1:%2").arg(QLatin1String(w)).arg(n);
        for (const char *path : {"bare", "future", "cb"}) {
            const QString id = QStringLiteral("%1.%2").arg(QLatin1String(w), QLatin1String(path));
            auto o = r.row(group, id);
            if (!o)
                continue;
            const bool isBare = !o->contains(QLatin1String("baseline"));
            const QJsonObject m = r.mem.value(group + u'/' + id);
            const double heap = o->value(QLatin1String("heap_peak_bytes_per_call")).toDouble();
            const double bareHeap = r.num(group, QStringLiteral("%1.bare").arg(QLatin1String(w)),
                                          "heap_peak_bytes_per_call");
            QJsonObject checks = o->value(QLatin1String("checks")).toObject();
            checks.remove(QStringLiteral("probe_n"));
            r.out << "| " << id << " | " << fmt(o->value(QLatin1String("median_ms")).toDouble(), 1)
                  << " | " << fmt(o->value(QLatin1String("ns_per_call")).toDouble() / 1000, 2)
                  << " | "
                  << (isBare ? QString()
                             : fmt(o->value(QLatin1String("baseline_ns_per_call")).toDouble() *
                                           double(n) / 1e6,
                                   1))
                  << " | "
                  << (isBare ? QString()
                             : fmt(o->value(QLatin1String("ratio")).toDouble(), 2) + u'x')
                  << " | "
                  << (isBare ? QString()
                             : fmt(o->value(QLatin1String("added_ns_per_call")).toDouble() / 1000,
                                   2))
                  << " | "
                  << (isBare ? QString()
                             : fmt(o->value(QLatin1String("cpu_ratio")).toDouble(), 2) + u'x')
                  << " | "
                  << (isBare ? QString()
                             : fmt(o->value(QLatin1String("cpu_added_ns_per_call")).toDouble() /
                                           1000,
                                   2))
                  << " | " << fmt(heap, 0) << " | "
                  << (isBare ? QString() : fmt(heap / bareHeap, 2) + u'x') << " | "
                  << fmt(o->value(QLatin1String("qobjects_made_per_call")).toDouble(), 4) << " | "
                  << mib(m.value(QLatin1String("peak_rss_kb")).toDouble(qQNaN())) << " | "
                  << fmt(m.value(QLatin1String("rss_added_bytes_per_run")).toDouble(qQNaN()), 0)
                  << " | "
                  << QString::fromUtf8(QJsonDocument(checks).toJson(QJsonDocument::Compact))
                  << " |\n";
        }
    }
}

void printScaling(Report &r, const Settings &s)
{
    r.out << "\n## Scaling: cost per run from 1k to 1M runs (us/run; added = library minus the "
             "bare burst in the same process; CPU = process CPU time added; 1M runs: one "
             "repetition)\n\n"
          << "| runs | W3 bare | W3 QFuture | added | W3 callback | added | W4 bare | W4 QFuture | "
             "added | W4 callback | added | CPU added W3 QFuture | CPU added W4 QFuture | "
             "heap B/run W3 QFuture | heap B/run W4 QFuture | notes |\n"
          << "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: | ---: | ---: | --- |\n";
    for (qint64 n : s.sizes) {
        r.out << "| " << fmtInt(double(n));
        for (const char *w : {"W3", "W4"}) {
            const QString group = QStringLiteral("%1:%2").arg(QLatin1String(w)).arg(n);
            r.out << " | "
                  << fmt(r.num(group, QStringLiteral("%1.bare").arg(QLatin1String(w)),
                               "ns_per_call") /
                                 1000,
                         2);
            for (const char *path : {"future", "cb"}) {
                const QString id = QStringLiteral("%1.%2").arg(QLatin1String(w),
                                                               QLatin1String(path));
                r.out << " | " << fmt(r.num(group, id, "ns_per_call") / 1000, 2) << " | "
                      << fmt(r.num(group, id, "added_ns_per_call") / 1000, 2);
            }
        }
        for (const char *w : {"W3", "W4"}) {
            const QString group = QStringLiteral("%1:%2").arg(QLatin1String(w)).arg(n);
            r.out << " | "
                  << fmt(r.num(group, QStringLiteral("%1.future").arg(QLatin1String(w)),
                               "cpu_added_ns_per_call") /
                                 1000,
                         2);
        }
        QStringList notes;
        for (const char *w : {"W3", "W4"}) {
            const QString group = QStringLiteral("%1:%2").arg(QLatin1String(w)).arg(n);
            r.out << " | "
                  << fmt(r.num(group, QStringLiteral("%1.future").arg(QLatin1String(w)),
                               "heap_peak_bytes_per_call"),
                         0);
            for (const char *path : {"bare", "future", "cb"}) {
                const QString id = QStringLiteral("%1.%2").arg(QLatin1String(w),
                                                               QLatin1String(path));
                const auto row = r.row(group, id);
                if (!row) {
                    notes << QStringLiteral("%1 missing").arg(id);
                    continue;
                }
                const int fired = row->value(QLatin1String("checks"))
                                          .toObject()
                                          .value(QLatin1String("timeouts_fired"))
                                          .toInt();
                if (fired > 0)
                    notes << QStringLiteral("%1: %2 runs timed out (10 s passed before the tick)")
                                     .arg(id)
                                     .arg(fired);
            }
        }
        r.out << " | " << notes.join(QStringLiteral("; ")) << " |\n";
    }
}

void printThreads(Report &r, const Settings &s)
{
    r.out << "\n## Threads: one breaker and one pool shared by 1, 2 and 8 threads (ns per call = "
             "wall time / all calls; "
          << QThread::idealThreadCount() << " cores)\n\n"
          << "| threads | B0 ns/call | W1 QFuture ns/call | ratio | added | B0 plain | W1 callback "
             "ns/call | added | "
             "W3 bare us/run | W3 shared pool us/run | ratio | added us/run | max in flight |\n"
          << "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: |\n";
    for (int t : s.threads) {
        const QString g = QStringLiteral("T:%1").arg(t);
        auto id = [t](const char *x) {
            return QStringLiteral("T%1.%2").arg(t).arg(QLatin1String(x));
        };
        auto w3 = r.row(g, id("W3.future"));
        r.out << "| " << t << " | " << fmt(r.num(g, id("B0.future.ready"), "ns_per_call"), 0)
              << " | " << fmt(r.num(g, id("W1.future.ready"), "ns_per_call"), 0) << " | "
              << fmt(r.num(g, id("W1.future.ready"), "ratio"), 2) << "x | "
              << fmt(r.num(g, id("W1.future.ready"), "added_ns_per_call"), 0) << " | "
              << fmt(r.num(g, id("B0.cb.plain"), "ns_per_call"), 1) << " | "
              << fmt(r.num(g, id("W1.cb.plain"), "ns_per_call"), 0) << " | "
              << fmt(r.num(g, id("W1.cb.plain"), "added_ns_per_call"), 0) << " | "
              << fmt(r.num(g, id("W3.bare"), "ns_per_call") / 1000, 2) << " | "
              << fmt(r.num(g, id("W3.future"), "ns_per_call") / 1000, 2) << " | "
              << fmt(r.num(g, id("W3.future"), "ratio"), 2) << "x | "
              << fmt(r.num(g, id("W3.future"), "added_ns_per_call") / 1000, 2) << " | "
              << (w3 ? QString::number(w3->value(QLatin1String("checks"))
                                               .toObject()
                                               .value(QLatin1String("max_in_flight"))
                                               .toInt())
                     : QStringLiteral("-"))
              << " |\n";
    }
}

// The Python kompoz 0.3.3 figures of the issue (not re-measured here).
struct PythonFigures
{
    double base = 179, w1 = 4018, w2 = 10106, w5 = 1580;
    double w3ms = 2580, w3bareMs = 1550, w4ms = 3630, w4bareMs = 1560;
};

struct PeerAdds
{
    QString name;
    double w1 = qQNaN(), w2 = qQNaN(), w3 = qQNaN(), w4 = qQNaN(), w5 = qQNaN(); // ns per call/run
};

std::vector<PeerAdds> peerAdditions(const Report &r)
{
    std::vector<PeerAdds> out;
    const PythonFigures py;
    PeerAdds p {QStringLiteral("kompoz 0.3.3 (Python, issue)")};
    p.w1 = py.w1 - py.base;
    p.w2 = py.w2 - py.base;
    p.w5 = py.w5 - py.base;
    p.w3 = (py.w3ms - py.w3bareMs) * 1e6 / 100000;
    p.w4 = (py.w4ms - py.w4bareMs) * 1e6 / 100000;
    out.push_back(p);
    auto peer = [&r](const char *key) { return r.peers.value(QLatin1String(key)); };
    const double base = peer("node:base").value(QLatin1String("ns_per_call")).toDouble(qQNaN());
    const double w3bare = peer("node:W3").value(QLatin1String("ns_per_call")).toDouble(qQNaN());
    const double w4bare = peer("node:W4").value(QLatin1String("ns_per_call")).toDouble(qQNaN());
    for (const char *name : {"cockatiel", "opossum"}) {
        auto ns = [&](const char *w) {
            return peer(QStringLiteral("%1:%2")
                                .arg(QLatin1String(name), QLatin1String(w))
                                .toLatin1()
                                .constData())
                    .value(QLatin1String("ns_per_call"))
                    .toDouble(qQNaN());
        };
        PeerAdds a;
        if (r.peers.isEmpty()) { // the table
            const bool c = QLatin1String(name) == QLatin1String("cockatiel");
            a.name = QStringLiteral("%1 (issue)").arg(QLatin1String(name));
            a.w1 = (c ? 292 : 1401) - 83.0;
            a.w2 = (c ? 29518 : 1855) - 83.0;
            a.w3 = c ? (7680 - 580) * 1e6 / 100000 : qQNaN();
            a.w4 = ((c ? 4670 : 1100) - 210) * 1e6 / 100000.0;
            a.w5 = (c ? 9329 : 8371) - 83.0;
        } else {
            a.name = QStringLiteral("%1 (same sitting)").arg(QLatin1String(name));
            a.w1 = ns("W1") - base;
            a.w2 = ns("W2") - base;
            a.w3 = QLatin1String(name) == QLatin1String("opossum") ? qQNaN() : ns("W3") - w3bare;
            a.w4 = ns("W4") - w4bare;
            a.w5 = ns("W5") - base;
        }
        out.push_back(a);
    }
    return out;
}

void printPeers(Report &r, const Settings &s)
{
    const QString burst = QStringLiteral(":%1").arg(s.nBurst);
    auto ours = [&](const QString &group, const char *id, const char *field) {
        return r.num(group, QLatin1String(id), field);
    };
    r.out << "\n## Beside the other libraries (what each adds to the bare run of its own "
             "runtime)\n\n";
    if (r.peers.isEmpty())
        r.out << "(no --peers file: the peers' figures are the issue's)\n\n";
    r.out << "| workload | Qt bare (B0) | kompoz-qt QFuture path | kompoz-qt callback path | "
             "Node bare | cockatiel | opossum | kompoz (Python, issue) |\n"
          << "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
    auto pv = [&](const char *key, const char *field) {
        return r.peers.value(QLatin1String(key)).value(QLatin1String(field)).toDouble(qQNaN());
    };
    auto cell = [](double v, double add, bool us = false) {
        if (qIsNaN(v))
            return QStringLiteral("-");
        const double k = us ? 1000 : 1;
        return QStringLiteral("%1 (+%2)").arg(fmtInt(v / k), fmtInt(add / k));
    };
    const double nodeBase = pv("node:base", "ns_per_call");
    const PythonFigures py;
    struct Line
    {
        const char *name, *group, *fut, *cb, *peer;
        double pyNs;
    };
    const Line lines[] = {
            {"W1 breaker, ns/call", "W1", "W1.future.ready", "W1.cb.plain", "W1", py.w1},
            {"W2 timeout + breaker, ns/call", "W2", "W2a.future.ready", "W2a.cb.plain", "W2",
             py.w2},
            {"W2 full pipeline, ns/call", "W2", "W2b.future.ready", "W2b.cb.plain", nullptr,
             qQNaN()},
            {"W5 open breaker, ns/call", "W5", "W5.future.then", "W5.cb.plain", "W5", py.w5},
    };
    r.out << "| bare loop, ns/call | "
          << fmt(ours(QStringLiteral("W1"), "B0.future.ready", "ns_per_call"), 0) << " (plain "
          << fmt(ours(QStringLiteral("W1"), "B0.cb.plain", "ns_per_call"), 1) << ") | | | "
          << fmt(nodeBase, 0) << " | | | " << fmt(py.base, 0) << " |\n";
    for (const Line &l : lines) {
        const QString g = QLatin1String(l.group);
        auto peerCell = [&](const char *peer) {
            if (!l.peer)
                return QStringLiteral("-");
            const double v = pv(QStringLiteral("%1:%2")
                                        .arg(QLatin1String(peer), QLatin1String(l.peer))
                                        .toLatin1()
                                        .constData(),
                                "ns_per_call");
            return cell(v, v - nodeBase);
        };
        r.out << "| " << l.name << " | " << fmt(ours(g, "B0.future.ready", "ns_per_call"), 0)
              << " | " << cell(ours(g, l.fut, "ns_per_call"), ours(g, l.fut, "added_ns_per_call"))
              << " | " << cell(ours(g, l.cb, "ns_per_call"), ours(g, l.cb, "added_ns_per_call"))
              << " | " << fmt(nodeBase, 0) << " | " << peerCell("cockatiel") << " | "
              << peerCell("opossum") << " | "
              << (qIsNaN(l.pyNs) ? QStringLiteral("-") : cell(l.pyNs, l.pyNs - py.base)) << " |\n";
    }
    for (const char *w : {"W3", "W4"}) {
        const QString g = QLatin1String(w) + burst;
        const QString fut = QStringLiteral("%1.future").arg(QLatin1String(w));
        const QString cb = QStringLiteral("%1.cb").arg(QLatin1String(w));
        const double bareMs = r.num(g, QStringLiteral("%1.bare").arg(QLatin1String(w)),
                                    "median_ms");
        auto burstCell = [&](const QString &id) {
            const double ms = r.num(g, id, "median_ms");
            if (qIsNaN(ms))
                return QStringLiteral("-");
            const QJsonObject m = r.mem.value(g + u'/' + id);
            return QStringLiteral("%1 s, %2 MiB (+%3 us/run)")
                    .arg(fmt(ms / 1000, 2),
                         mib(m.value(QLatin1String("peak_rss_kb")).toDouble(qQNaN())),
                         fmt(r.num(g, id, "added_ns_per_call") / 1000, 2));
        };
        auto peerBurst = [&](const char *peer) {
            const QString key = QStringLiteral("%1:%2").arg(QLatin1String(peer), QLatin1String(w));
            const QJsonObject o = r.peers.value(key);
            if (o.isEmpty())
                return QStringLiteral("-");
            const double bare = pv(
                    QStringLiteral("node:%1").arg(QLatin1String(w)).toLatin1().constData(),
                    "median_ms");
            const double ms = o.value(QLatin1String("median_ms")).toDouble();
            QString s = QStringLiteral("%1 s, %2 MiB")
                                .arg(fmt(ms / 1000, 2),
                                     mib(o.value(QLatin1String("peak_rss_kb")).toDouble()));
            if (QLatin1String(peer) == QLatin1String("opossum") &&
                QLatin1String(w) == QLatin1String("W3"))
                return s + QStringLiteral(" (rejects)");
            if (!qIsNaN(bare) && QLatin1String(peer) != QLatin1String("node"))
                s += QStringLiteral(" (+%1 us/run)")
                             .arg(fmt((ms - bare) * 1e6 / o.value(QLatin1String("n")).toDouble() /
                                              1000,
                                      2));
            return s;
        };
        const bool isW3 = QLatin1String(w) == QLatin1String("W3");
        r.out << "| " << w << (isW3 ? " 100k through 64 slots" : " 100k pending timeouts") << " | "
              << fmt(bareMs / 1000, 2) << " s, "
              << mib(r.mem.value(g + QStringLiteral("/%1.bare").arg(QLatin1String(w)))
                             .value(QLatin1String("peak_rss_kb"))
                             .toDouble(qQNaN()))
              << " MiB | " << burstCell(fut) << " | " << burstCell(cb) << " | " << peerBurst("node")
              << " | " << peerBurst("cockatiel") << " | " << peerBurst("opossum") << " | "
              << (isW3 ? QStringLiteral("2.58 s, 199 MiB (+10.3 us/run)")
                       : QStringLiteral("3.63 s, 267 MiB (+20.7 us/run)"))
              << " |\n";
    }
}

void evaluateTargets(Report &r, const Settings &s)
{
    auto ratio = [&](const char *g, const char *id) {
        return r.num(QLatin1String(g), QLatin1String(id), "ratio");
    };
    auto ns = [&](const char *g, const char *id) {
        return r.num(QLatin1String(g), QLatin1String(id), "ns_per_call");
    };
    auto added = [&](const QString &g, const char *id) {
        return r.num(g, QLatin1String(id), "added_ns_per_call");
    };

    for (const auto &[g, id, what] :
         {std::tuple {"W1", "W1.future.ready", "W1"}, std::tuple {"W1", "W1.future.promise", "W1"},
          std::tuple {"W2", "W2a.future.ready", "W2 withTimeout(circuitBreaker)"},
          std::tuple {"W2", "W2a.future.promise", "W2 withTimeout(circuitBreaker)"},
          std::tuple {"W2", "W2b.future.ready", "W2 circuitBreaker(withTimeout(limited))"},
          std::tuple {"W2", "W2b.future.promise", "W2 circuitBreaker(withTimeout(limited))"}}) {
        const double v = ratio(g, id);
        r.target(QStringLiteral("QFuture path: %1 <= 1.5x B0 per call (%2)")
                         .arg(QLatin1String(what), QLatin1String(id)),
                 QStringLiteral("%1x (+%2 ns); CPU time %3x")
                         .arg(fmt(v, 2), fmt(added(QLatin1String(g), id), 0),
                              fmt(r.num(QLatin1String(g), QLatin1String(id), "cpu_ratio"), 2)),
                 v <= 1.5);
    }
    for (const char *id : {"W2a.future.ready", "W2b.future.ready"}) {
        const double q = r.num(QStringLiteral("W2"), QLatin1String(id),
                               "added_qfuture_states_per_call");
        r.target(QStringLiteral("on a ready task, W2 makes one QFuture, the caller's (%1)")
                         .arg(QLatin1String(id)),
                 QStringLiteral("%1 QFuture state(s) per call above B0's task future + then()")
                         .arg(fmt(q, 2)),
                 q <= 1.001);
    }
    const auto peers = peerAdditions(r);
    double cockatielW1 = 292;
    if (r.peers.contains(QStringLiteral("cockatiel:W1")))
        cockatielW1 = r.peers.value(QStringLiteral("cockatiel:W1"))
                              .value(QLatin1String("ns_per_call"))
                              .toDouble();
    const double w1cb = ns("W1", "W1.cb.plain");
    r.target(QStringLiteral("callback path: W1 <= 150 ns per call in all, under cockatiel's whole "
                            "W1 (%1 ns)")
                     .arg(fmt(cockatielW1, 0)),
             QStringLiteral("%1 ns").arg(fmt(w1cb, 1)), w1cb <= 150 && w1cb < cockatielW1);
    // B0 is one ready future plus one then(); a rejected run awaited by then() is exactly that
    // too, so only the future read at once can be under B0: that is what the target judges.
    const double w5 = ratio("W5", "W5.future.readnow");
    r.target(QStringLiteral("W5 QFuture path <= 0.6x B0 per call (the rejected run's future, read "
                            "at once)"),
             QStringLiteral("%1x (%2 ns vs %3 ns), CPU time %4x; awaited by then() as B0 is: %5x "
                            "(+%6 ns)")
                     .arg(fmt(w5, 2), fmt(ns("W5", "W5.future.readnow"), 0),
                          fmt(ns("W5", "B0.future.ready"), 0),
                          fmt(r.num(QStringLiteral("W5"), QStringLiteral("W5.future.readnow"),
                                    "cpu_ratio"),
                              2),
                          fmt(ratio("W5", "W5.future.then"), 2),
                          fmt(added(QStringLiteral("W5"), "W5.future.then"), 0)),
             w5 <= 0.6);
    const double w5cb = ns("W5", "W5.cb.plain");
    r.target(QStringLiteral("W5 callback path < 100 ns per call"),
             QStringLiteral("%1 ns").arg(fmt(w5cb, 1)), w5cb < 100);

    const QString burst = QStringLiteral(":%1").arg(s.nBurst);
    for (const char *w : {"W3", "W4"}) {
        const QString g = QLatin1String(w) + burst;
        const double bareHeap = r.num(g, QStringLiteral("%1.bare").arg(QLatin1String(w)),
                                      "heap_peak_bytes_per_call");
        const double bareObjects = r.num(g, QStringLiteral("%1.bare").arg(QLatin1String(w)),
                                         "qobjects_made_per_call");
        for (const char *path : {"future", "cb"}) {
            const QByteArray id = QStringLiteral("%1.%2")
                                          .arg(QLatin1String(w), QLatin1String(path))
                                          .toLatin1();
            const double a = added(g, id.constData());
            r.target(QStringLiteral("%1: the library adds <= 3 us per run to the bare burst (%2)")
                             .arg(QLatin1String(w), QLatin1String(id)),
                     QStringLiteral("+%1 us/run; CPU time +%2 us/run")
                             .arg(fmt(a / 1000, 2),
                                  fmt(r.num(g, QLatin1String(id), "cpu_added_ns_per_call") / 1000,
                                      2)),
                     a <= 3000);
            const double objs = r.num(g, QLatin1String(id), "qobjects_made_per_call") - bareObjects;
            r.target(QStringLiteral("%1: no QTimer (no QObject) per pending run (%2)")
                             .arg(QLatin1String(w), QLatin1String(id)),
                     QStringLiteral("%1 QObjects made per run above the bare burst")
                             .arg(fmt(objs, 4)),
                     objs < 0.001);
            const double heap = r.num(g, QLatin1String(id), "heap_peak_bytes_per_call");
            const QJsonObject m = r.mem.value(g + u'/' + QLatin1String(id));
            const QJsonObject mb = r.mem.value(g +
                                               QStringLiteral("/%1.bare").arg(QLatin1String(w)));
            const double rss = m.value(QLatin1String("rss_added_bytes_per_run")).toDouble(qQNaN());
            const double rssBare = mb.value(QLatin1String("rss_added_bytes_per_run"))
                                           .toDouble(qQNaN());
            r.target(QStringLiteral("%1: memory per pending run <= 2x the bare burst's (%2)")
                             .arg(QLatin1String(w), QLatin1String(id)),
                     QStringLiteral("heap %1 B vs %2 B = %3x; RSS %4 B vs %5 B = %6x")
                             .arg(fmt(heap, 0), fmt(bareHeap, 0), fmt(heap / bareHeap, 2),
                                  fmt(rss, 0), fmt(rssBare, 0), fmt(rss / rssBare, 2)),
                     heap / bareHeap <= 2.0 && (qIsNaN(rss) || rss / rssBare <= 2.0));
        }
        // Flat: the library's cost per run at the largest size is within 1.5x of its cost at
        // 10k (1k is dominated by fixed costs: thread wake-ups, W4's 1 ms tick).
        const qint64 big = s.sizes.last();
        for (const char *path : {"future", "cb"}) {
            const QString id = QStringLiteral("%1.%2").arg(QLatin1String(w), QLatin1String(path));
            QStringList parts;
            double lo = qInf(), at10k = qQNaN(), atBig = qQNaN();
            for (qint64 n : s.sizes) {
                const double v = r.num(QStringLiteral("%1:%2").arg(QLatin1String(w)).arg(n), id,
                                       "ns_per_call");
                parts << QStringLiteral("%1: %2").arg(fmtInt(double(n)), fmt(v / 1000, 2));
                lo = qMin(lo, v);
                if (n == 10000)
                    at10k = v;
                if (n == big)
                    atBig = v;
            }
            r.target(QStringLiteral("%1: cost per run flat from 10k to %2 (within 1.5x) (%3)")
                             .arg(QLatin1String(w), fmtInt(double(big)), id),
                     QStringLiteral("us/run %1").arg(parts.join(QStringLiteral(", "))),
                     atBig <= 1.5 * at10k);
        }
    }
    // Everywhere: what the library adds is less than what every library above adds.
    auto minOf = [&](double PeerAdds::*field) {
        double m = qInf();
        QString who;
        for (const PeerAdds &p : peers) {
            if (!qIsNaN(p.*field) && p.*field < m) {
                m = p.*field;
                who = p.name;
            }
        }
        return std::make_pair(m, who);
    };
    struct Every
    {
        const char *what;
        QString group;
        const char *id;
        double PeerAdds::*field;
    };
    const Every every[] = {
            {"W1", QStringLiteral("W1"), "W1.future.ready", &PeerAdds::w1},
            {"W1", QStringLiteral("W1"), "W1.cb.plain", &PeerAdds::w1},
            {"W2", QStringLiteral("W2"), "W2a.future.ready", &PeerAdds::w2},
            {"W2", QStringLiteral("W2"), "W2b.future.ready", &PeerAdds::w2},
            {"W2", QStringLiteral("W2"), "W2a.cb.plain", &PeerAdds::w2},
            {"W3", QStringLiteral("W3") + burst, "W3.future", &PeerAdds::w3},
            {"W3", QStringLiteral("W3") + burst, "W3.cb", &PeerAdds::w3},
            {"W4", QStringLiteral("W4") + burst, "W4.future", &PeerAdds::w4},
            {"W4", QStringLiteral("W4") + burst, "W4.cb", &PeerAdds::w4},
            {"W5", QStringLiteral("W5"), "W5.future.then", &PeerAdds::w5},
            {"W5", QStringLiteral("W5"), "W5.cb.plain", &PeerAdds::w5},
    };
    for (const Every &e : every) {
        const auto [least, who] = minOf(e.field);
        const double a = added(e.group, e.id);
        r.target(QStringLiteral("%1: adds less than every other library (%2)")
                         .arg(QLatin1String(e.what), QLatin1String(e.id)),
                 QStringLiteral("+%1 ns vs the leanest other, %2: +%3 ns")
                         .arg(fmt(a, 0), who, fmt(least, 0)),
                 a < least);
    }
}

void printTargets(Report &r)
{
    r.out << "\n## Targets (issue #4)\n\n| result | target | measured |\n| --- | --- | --- |\n";
    for (const QJsonValue &v : std::as_const(r.targets)) {
        const QJsonObject t = v.toObject();
        r.out << "| " << (t.value(QLatin1String("pass")).toBool() ? "PASS" : "**FAIL**") << " | "
              << t.value(QLatin1String("target")).toString() << " | "
              << t.value(QLatin1String("measured")).toString() << " |\n";
    }
    r.out << "\n"
          << (r.targets.size() - r.failed) << " of " << r.targets.size() << " targets met.\n";
}

int runDriver(const Settings &s, const QString &jsonPath, const QString &peersPath,
              const QStringList &only)
{
    Report r;
    const QJsonObject m = machine();
    r.out << "# kompoz-bench" << (s.quick ? " --quick" : "") << "\n\n"
          << "machine: " << m.value(QLatin1String("cpu")).toString() << ", "
          << m.value(QLatin1String("cores")).toInt() << " cores, Linux "
          << m.value(QLatin1String("kernel")).toString() << " ("
          << m.value(QLatin1String("os")).toString() << "), Qt "
          << m.value(QLatin1String("qt")).toString() << ", "
          << m.value(QLatin1String("compiler")).toString() << ", "
          << m.value(QLatin1String("date")).toString() << "\nmedian of " << s.reps
          << " interleaved repetitions after a warm-up; each group in its own process\n";
    r.out.flush();

    if (!peersPath.isEmpty()) {
        QFile f(peersPath);
        if (f.open(QIODevice::ReadOnly)) {
            for (const QByteArray &line : f.readAll().split('\n')) {
                if (!line.startsWith('{'))
                    continue;
                const QJsonObject o = QJsonDocument::fromJson(line).object();
                r.peers.insert(o.value(QLatin1String("peer")).toString() + u':' +
                                       o.value(QLatin1String("workload")).toString(),
                               o);
            }
        }
    }

    QStringList groups {QStringLiteral("W1"), QStringLiteral("W2"), QStringLiteral("W5")};
    if (bench::haveMetrics())
        groups << QStringLiteral("M");
    groups << QStringLiteral("P");
    for (qint64 n : s.sizes)
        groups << QStringLiteral("W3:%1").arg(n) << QStringLiteral("W4:%1").arg(n);
    for (int t : s.threads)
        groups << QStringLiteral("T:%1").arg(t);
    QStringList common;
    if (s.quick)
        common << QStringLiteral("--quick");
    common << QStringLiteral("--reps") << QString::number(s.reps);

    auto wanted = [&only](const QString &g) {
        return only.isEmpty() || only.contains(g.section(u':', 0, 0)) || only.contains(g);
    };
    const auto started = bench::SteadyClock::now();
    for (const QString &g : std::as_const(groups)) {
        if (!wanted(g))
            continue;
        std::fprintf(stderr, "kompoz-bench: %s ...\n", qPrintable(g));
        const QJsonArray rows = spawn(QStringList {QStringLiteral("--workload"), g} + common);
        for (const QJsonValue &v : rows)
            r.rows.insert(g + u'/' + v.toObject().value(QLatin1String("id")).toString(),
                          v.toObject());
    }
    // Peak RSS of each burst in a process of its own.
    for (const char *w : {"W3", "W4"}) {
        const QString g = QStringLiteral("%1:%2").arg(QLatin1String(w)).arg(s.nBurst);
        if (!wanted(g))
            continue;
        for (const char *path : {"bare", "future", "cb"}) {
            const QString id = QStringLiteral("%1.%2").arg(QLatin1String(w), QLatin1String(path));
            std::fprintf(stderr, "kompoz-bench: peak RSS of %s ...\n", qPrintable(id));
            const QJsonArray rows = spawn(
                    QStringList {QStringLiteral("--workload"), g, QStringLiteral("--mem"), id} +
                    common);
            for (const QJsonValue &v : rows)
                r.mem.insert(g + u'/' + id, v.toObject());
        }
    }
    const double seconds = double(bench::nsSince(started)) / 1e9;

    printSequential(r,
                    {QStringLiteral("W1"), QStringLiteral("W2"), QStringLiteral("W5"),
                     QStringLiteral("M"), QStringLiteral("P")});
    printBursts(r, s.nBurst);
    printScaling(r, s);
    printThreads(r, s);
    printPeers(r, s);
    evaluateTargets(r, s);
    printTargets(r);
    r.out << "\nkompoz-bench ran for " << fmt(seconds, 0) << " s.\n";
    r.out.flush();

    if (!jsonPath.isEmpty()) {
        QJsonObject doc;
        doc.insert(QStringLiteral("machine"), m);
        doc.insert(QStringLiteral("quick"), s.quick);
        doc.insert(QStringLiteral("reps"), s.reps);
        QJsonArray rows;
        for (const QJsonObject &o : std::as_const(r.rows)) {
            QJsonObject x = o;
            const QJsonObject mm = r.mem.value(o.value(QLatin1String("group")).toString() + u'/' +
                                               o.value(QLatin1String("id")).toString());
            if (!mm.isEmpty()) {
                x.insert(QStringLiteral("peak_rss_kb"), mm.value(QLatin1String("peak_rss_kb")));
                x.insert(QStringLiteral("rss_added_bytes_per_run"),
                         mm.value(QLatin1String("rss_added_bytes_per_run")));
            } else {
                x.insert(QStringLiteral("peak_rss_kb"),
                         o.value(QLatin1String("process_peak_rss_kb")));
            }
            rows.append(x);
        }
        doc.insert(QStringLiteral("workloads"), rows);
        QJsonArray peers;
        for (const QJsonObject &o : std::as_const(r.peers))
            peers.append(o);
        doc.insert(QStringLiteral("peers"), peers);
        doc.insert(QStringLiteral("targets"), r.targets);
        doc.insert(QStringLiteral("seconds"), seconds);
        QFile f(jsonPath);
        if (f.open(QIODevice::WriteOnly | QIODevice::Truncate))
            f.write(QJsonDocument(doc).toJson(QJsonDocument::Indented));
        else
            std::fprintf(stderr, "kompoz-bench: cannot write %s\n", qPrintable(jsonPath));
    }
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    auto value = [&args](const char *flag) {
        const qsizetype i = args.indexOf(QLatin1String(flag));
        return i >= 0 && i + 1 < args.size() ? args.at(i + 1) : QString();
    };
    if (args.contains(QLatin1String("--help")) || args.contains(QLatin1String("-h"))) {
        std::printf(
                "usage: kompoz-bench [--quick] [--reps N] [--json FILE] [--peers FILE] "
                "[--only W1,W2,W5,M,P,W3,W4,T]\n"
                "  --quick       fewer calls and repetitions, no 1M scaling runs (~1 min)\n"
                "  --json FILE   ns per call, calls per second, peak RSS per workload\n"
                "  --peers FILE  output of ../shared/peers/bench_node_peers.cjs, shown beside\n");
        return 0;
    }
    const Settings s = settingsFor(args.contains(QLatin1String("--quick")),
                                   value("--reps").toInt());
    const QString group = value("--workload");
    if (!group.isEmpty() && !value("--profile").isEmpty())
        return runProfile(group, value("--profile"), value("--n").toLongLong(), s);
    if (!group.isEmpty())
        return runChild(group, value("--mem"), s);
    const QString only = value("--only");
    return runDriver(s, value("--json"), value("--peers"),
                     only.isEmpty() ? QStringList() : only.split(u','));
}
