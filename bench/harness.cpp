// SPDX-License-Identifier: MIT
#include "harness.h"

#include <QFile>
#include <QFutureInterfaceBase>
#include <QObject>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include <dlfcn.h>
#include <malloc.h>
#include <time.h>

// Qt's object hooks (qhooks_p.h, used by GammaRay; stable since Qt 5.4): an array of function
// pointers QtCore calls on every QObject construction and destruction. Declared here rather
// than by including a private header; only the benchmark uses it.
extern quintptr qtHookData[];

namespace bench {
namespace {
enum HookIndex { AddQObject = 3, RemoveQObject = 4 };

std::atomic<bool> g_counting {false};
std::atomic<qint64> g_allocations {0};
std::atomic<qint64> g_liveBytes {0};
std::atomic<qint64> g_peakBytes {0};
std::atomic<qint64> g_futureStates {0};
std::atomic<qint64> g_liveObjects {0};
std::atomic<qint64> g_peakObjects {0};
std::atomic<qint64> g_objectsMade {0};

void raisePeak(std::atomic<qint64> &peak, qint64 value)
{
    qint64 seen = peak.load(std::memory_order_relaxed);
    while (value > seen && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) { }
}

void *counted(void *p)
{
    if (p && g_counting.load(std::memory_order_relaxed)) {
        g_allocations.fetch_add(1, std::memory_order_relaxed);
        raisePeak(g_peakBytes,
                  g_liveBytes.fetch_add(qint64(malloc_usable_size(p)), std::memory_order_relaxed) +
                          qint64(malloc_usable_size(p)));
    }
    return p;
}

void uncounted(void *p)
{
    if (p && g_counting.load(std::memory_order_relaxed))
        g_liveBytes.fetch_sub(qint64(malloc_usable_size(p)), std::memory_order_relaxed);
    std::free(p);
}

void *allocate(std::size_t size)
{
    void *p = std::malloc(size ? size : 1);
    if (!p)
        throw std::bad_alloc();
    return counted(p);
}

void *allocateAligned(std::size_t size, std::align_val_t align)
{
    const auto a = std::size_t(align);
    void *p = std::aligned_alloc(a, (size + a - 1) / a * a);
    if (!p)
        throw std::bad_alloc();
    return counted(p);
}

void onAddQObject(QObject *)
{
    if (g_counting.load(std::memory_order_relaxed)) {
        g_objectsMade.fetch_add(1, std::memory_order_relaxed);
        raisePeak(g_peakObjects, g_liveObjects.fetch_add(1, std::memory_order_relaxed) + 1);
    }
}

void onRemoveQObject(QObject *)
{
    if (g_counting.load(std::memory_order_relaxed))
        g_liveObjects.fetch_sub(1, std::memory_order_relaxed);
}

const bool g_hooksInstalled = [] {
    qtHookData[AddQObject] = reinterpret_cast<quintptr>(&onAddQObject);
    qtHookData[RemoveQObject] = reinterpret_cast<quintptr>(&onRemoveQObject);
    return true;
}();
} // namespace

namespace {
std::atomic<qint64> g_lastCpuNs {0};
}

qint64 processCpuNs()
{
    timespec ts {};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return qint64(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

qint64 nsSince(const Start &start)
{
    const qint64 wall = nsSince(start.wall);
    g_lastCpuNs.store(processCpuNs() - start.cpu);
    return wall;
}

qint64 lastCpuNs() { return g_lastCpuNs.load(); }

void require(bool condition, const char *what)
{
    if (!condition) {
        std::fprintf(stderr, "kompoz-bench: check failed: %s\n", what);
        std::exit(2);
    }
}

namespace {
qint64 statusKb(const char *key)
{
    QFile f(QStringLiteral("/proc/self/status"));
    if (!f.open(QIODevice::ReadOnly))
        return -1;
    const QByteArray prefix = QByteArray(key) + ':';
    for (const QByteArray &line : f.readAll().split('\n')) {
        if (line.startsWith(prefix))
            return line.mid(prefix.size()).trimmed().split(' ').value(0).toLongLong();
    }
    return -1;
}
} // namespace

qint64 rssKb() { return statusKb("VmRSS"); }

qint64 peakRssKb() { return statusKb("VmHWM"); }

void probeBegin()
{
    Q_UNUSED(g_hooksInstalled)
    g_allocations = 0;
    g_liveBytes = 0;
    g_peakBytes = 0;
    g_futureStates = 0;
    g_liveObjects = 0;
    g_peakObjects = 0;
    g_objectsMade = 0;
    g_counting.store(true);
}

Probe probeEnd()
{
    g_counting.store(false);
    Probe p;
    p.allocations = g_allocations;
    p.heapPeakBytes = g_peakBytes;
    p.futureStates = g_futureStates;
    p.qobjectsPeak = g_peakObjects;
    p.qobjectsMade = g_objectsMade;
    return p;
}

double median(std::vector<double> values)
{
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    const size_t m = values.size() / 2;
    return values.size() % 2 ? values[m] : (values[m - 1] + values[m]) / 2;
}

QJsonArray runGroup(const QString &group, const std::vector<Variant> &variants,
                    const GroupOptions &options)
{
    const size_t count = variants.size();
    std::vector<QJsonObject> checks(count);
    if (options.warmup) {
        for (size_t i = 0; i < count; ++i)
            variants[i].run(options.warmupN ? options.warmupN : variants[i].n, checks[i]);
    }
    std::vector<std::vector<double>> samples(count); // wall ns per call
    std::vector<std::vector<double>> cpu(count); // process CPU ns per call
    for (int rep = 0; rep < options.reps; ++rep) {
        for (size_t i = 0; i < count; ++i) {
            const qint64 ns = variants[i].run(variants[i].n, checks[i]);
            samples[i].push_back(double(ns) / double(variants[i].n));
            cpu[i].push_back(double(lastCpuNs()) / double(variants[i].n));
        }
    }
    std::vector<Probe> probes(count);
    for (size_t i = 0; i < count; ++i) {
        const qint64 n = variants[i].probeN ? variants[i].probeN : variants[i].n;
        QJsonObject ignored;
        probeBegin();
        variants[i].run(n, ignored);
        probes[i] = probeEnd();
        QJsonObject &c = checks[i];
        c.insert(QStringLiteral("probe_n"), n);
    }
    const qint64 peak = peakRssKb();

    auto indexOf = [&](const QString &id) -> int {
        for (size_t i = 0; i < count; ++i) {
            if (variants[i].id == id)
                return int(i);
        }
        return -1;
    };
    QJsonArray out;
    for (size_t i = 0; i < count; ++i) {
        const Variant &v = variants[i];
        const qint64 pn = v.probeN ? v.probeN : v.n;
        const double ns = median(samples[i]);
        QJsonObject o;
        o.insert(QStringLiteral("group"), group);
        o.insert(QStringLiteral("id"), v.id);
        o.insert(QStringLiteral("label"), v.label);
        o.insert(QStringLiteral("n"), v.n);
        o.insert(QStringLiteral("reps"), options.reps);
        o.insert(QStringLiteral("ns_per_call"), ns);
        o.insert(QStringLiteral("calls_per_s"), ns > 0 ? 1e9 / ns : 0);
        o.insert(QStringLiteral("cpu_ns_per_call"), median(cpu[i]));
        o.insert(QStringLiteral("median_ms"), ns * double(v.n) / 1e6);
        QJsonArray s;
        for (double x : samples[i])
            s.append(x * double(v.n) / 1e6);
        o.insert(QStringLiteral("samples_ms"), s);
        o.insert(QStringLiteral("allocs_per_call"), double(probes[i].allocations) / double(pn));
        o.insert(QStringLiteral("qfuture_states_per_call"),
                 double(probes[i].futureStates) / double(pn));
        o.insert(QStringLiteral("heap_peak_bytes_per_call"),
                 double(probes[i].heapPeakBytes) / double(pn));
        o.insert(QStringLiteral("qobjects_alive_peak"), probes[i].qobjectsPeak);
        o.insert(QStringLiteral("qobjects_made_per_call"),
                 double(probes[i].qobjectsMade) / double(pn));
        o.insert(QStringLiteral("process_peak_rss_kb"), peak);
        o.insert(QStringLiteral("checks"), checks[i]);
        const int b = indexOf(v.baseline);
        if (b >= 0) {
            std::vector<double> ratios, diffs;
            for (size_t r = 0; r < samples[i].size(); ++r) {
                ratios.push_back(samples[i][r] / samples[size_t(b)][r]);
                diffs.push_back(samples[i][r] - samples[size_t(b)][r]);
            }
            o.insert(QStringLiteral("baseline"), v.baseline);
            o.insert(QStringLiteral("baseline_ns_per_call"), median(samples[size_t(b)]));
            o.insert(QStringLiteral("ratio"), median(ratios));
            o.insert(QStringLiteral("added_ns_per_call"), median(diffs));
            std::vector<double> cpuRatios, cpuDiffs;
            for (size_t r = 0; r < cpu[i].size(); ++r) {
                cpuRatios.push_back(cpu[i][r] / cpu[size_t(b)][r]);
                cpuDiffs.push_back(cpu[i][r] - cpu[size_t(b)][r]);
            }
            o.insert(QStringLiteral("cpu_ratio"), median(cpuRatios));
            o.insert(QStringLiteral("cpu_added_ns_per_call"), median(cpuDiffs));
            o.insert(QStringLiteral("added_allocs_per_call"),
                     double(probes[i].allocations - probes[size_t(b)].allocations) / double(pn));
            o.insert(QStringLiteral("added_qfuture_states_per_call"),
                     double(probes[i].futureStates - probes[size_t(b)].futureStates) / double(pn));
            o.insert(QStringLiteral("added_heap_peak_bytes_per_call"),
                     double(probes[i].heapPeakBytes - probes[size_t(b)].heapPeakBytes) /
                             double(pn));
        }
        out.append(o);
    }
    return out;
}

} // namespace bench

// ---- What the counting pass counts -----------------------------------------------------------

// Every QFuture shared state (a QPromise, a then() continuation, a library's own future) is
// made by this constructor. Defining it here puts a counter in front of QtCore's: calls made
// from templates instantiated in this program (QPromise, QFuture::then, the library's headers)
// bind to this definition, which forwards to QtCore's through dlsym(RTLD_NEXT).
QFutureInterfaceBase::QFutureInterfaceBase(State initialState)
{
    using Ctor = void (*)(QFutureInterfaceBase *, State);
    static const Ctor real = [] {
        void *sym = dlsym(RTLD_NEXT, "_ZN20QFutureInterfaceBaseC2ENS_5StateE");
        bench::require(sym != nullptr, "QFutureInterfaceBase constructor found in QtCore");
        Ctor fn;
        std::memcpy(&fn, &sym, sizeof fn);
        return fn;
    }();
    real(this, initialState);
    if (bench::g_counting.load(std::memory_order_relaxed))
        bench::g_futureStates.fetch_add(1, std::memory_order_relaxed);
}

void *operator new(std::size_t size) { return bench::allocate(size); }
void *operator new[](std::size_t size) { return bench::allocate(size); }
void *operator new(std::size_t size, const std::nothrow_t &) noexcept
{
    return bench::counted(std::malloc(size ? size : 1));
}
void *operator new[](std::size_t size, const std::nothrow_t &) noexcept
{
    return bench::counted(std::malloc(size ? size : 1));
}
void *operator new(std::size_t size, std::align_val_t align)
{
    return bench::allocateAligned(size, align);
}
void *operator new[](std::size_t size, std::align_val_t align)
{
    return bench::allocateAligned(size, align);
}
void operator delete(void *p) noexcept { bench::uncounted(p); }
void operator delete[](void *p) noexcept { bench::uncounted(p); }
void operator delete(void *p, std::size_t) noexcept { bench::uncounted(p); }
void operator delete[](void *p, std::size_t) noexcept { bench::uncounted(p); }
void operator delete(void *p, std::align_val_t) noexcept { bench::uncounted(p); }
void operator delete[](void *p, std::align_val_t) noexcept { bench::uncounted(p); }
void operator delete(void *p, std::size_t, std::align_val_t) noexcept { bench::uncounted(p); }
void operator delete[](void *p, std::size_t, std::align_val_t) noexcept { bench::uncounted(p); }
