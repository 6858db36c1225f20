// SPDX-License-Identifier: MIT
#include "metricschart.h"

#include "statebadge.h"

#include <kompoz/circuitbreaker.h>
#include <kompoz/rollingmetrics.h>

#include <QPainter>
#include <QPainterPath>

#include <cmath>

namespace kompoz {

namespace {
int severity(CircuitState s)
{
    return s == CircuitState::Open ? 2 : s == CircuitState::HalfOpen ? 1 : 0;
}

// 1, 2, 5, 10, 20, 50 ...: axis maxima a person reads at a glance.
double niceCeiling(double v)
{
    if (v <= 0)
        return 1;
    const double magnitude = std::pow(10.0, std::floor(std::log10(v)));
    for (double step : {1.0, 2.0, 5.0, 10.0}) {
        if (v <= step * magnitude)
            return step * magnitude;
    }
    return 10 * magnitude;
}

QString formatCount(double v)
{
    if (v >= 10000)
        return QString::number(v / 1000, 'f', 0) + QLatin1Char('k');
    if (v >= 1000)
        return QString::number(v / 1000, 'f', 1) + QLatin1Char('k');
    return QString::number(v, 'f', 0);
}

QString formatMs(double ms)
{
    if (ms >= 1000)
        return QString::number(ms / 1000, 'g', 3) + QLatin1String(" s");
    return QString::number(ms, 'g', 3) + QLatin1String(" ms");
}

const QColor kSuccess(0x3f, 0xb9, 0x50);
const QColor kFailure(0xe5, 0x48, 0x4d);
const QColor kTimeout(0xf0, 0x8c, 0x2e);
const QColor kRejected(0x8b, 0x94, 0x9e);
const QColor kLatency(0x58, 0xa6, 0xff);
} // namespace

MetricsChart::MetricsChart(RollingMetrics *metrics, CircuitBreaker *breaker, QWidget *parent)
    : QWidget(parent), m_metrics(metrics), m_breaker(breaker)
{
    setObjectName(QStringLiteral("chart"));
    m_stateSecond.fill(-1);
    m_state.fill(CircuitState::Closed);
    if (metrics)
        m_seconds = qBound(1, metrics->historySeconds(), 120);
    setAttribute(Qt::WA_OpaquePaintEvent);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

MetricsChart::~MetricsChart() = default;

void MetricsChart::setSeconds(int seconds)
{
    m_seconds = qBound(1, seconds, 120);
    update();
}

CircuitBreaker *MetricsChart::breaker() const { return m_breaker; }

void MetricsChart::setBreaker(CircuitBreaker *breaker)
{
    m_breaker = breaker;
    update();
}

void MetricsChart::noteState(qint64 second, CircuitState state)
{
    const auto i = size_t(((second % kStates) + kStates) % kStates);
    if (m_stateSecond[i] != second) {
        m_stateSecond[i] = second;
        m_state[i] = state;
    } else if (severity(state) > severity(m_state[i])) {
        m_state[i] = state;
    }
}

QSize MetricsChart::sizeHint() const { return QSize(420, 170); }

QSize MetricsChart::minimumSizeHint() const { return QSize(200, 110); }

void MetricsChart::tick()
{
    if (!m_metrics)
        return;
    const qint64 now = m_metrics->currentSecond();
    if (m_breaker)
        noteState(now, m_breaker->state());
    if (now != m_paintedSecond)
        update();
}

void MetricsChart::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    const QPalette pal = palette();
    p.fillRect(rect(), pal.color(QPalette::Base));
    p.setRenderHint(QPainter::Antialiasing, false);
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.85);
    p.setFont(small);
    const QFontMetrics fm(small);
    QColor muted = pal.color(QPalette::Text);
    muted.setAlpha(150);
    QColor grid = pal.color(QPalette::Text);
    grid.setAlpha(28);

    if (!m_metrics) {
        p.setPen(muted);
        p.drawText(rect(), Qt::AlignCenter, tr("No metrics attached"));
        return;
    }
    const QList<MetricsSample> samples = m_metrics->samples(m_seconds);
    m_paintedSecond = m_metrics->currentSecond();
    const int n = int(samples.size());

    // Layout: legend on top, counts on the left axis, latency on the right, time below.
    const int legendH = fm.height() + 8;
    const int left = fm.horizontalAdvance(QStringLiteral("8.8k")) + 10;
    const int right = fm.horizontalAdvance(QStringLiteral("888 ms")) + 10;
    const int bottom = fm.height() + 6;
    const QRect plot(left, legendH, width() - left - right, height() - legendH - bottom);
    if (plot.width() < 20 || plot.height() < 20 || n == 0)
        return;

    double maxCount = 0, maxLatency = 0;
    for (const MetricsSample &s : samples) {
        maxCount = qMax(maxCount, double(s.total()));
        maxLatency = qMax(maxLatency, s.p90LatencyMs);
    }
    const double countTop = niceCeiling(maxCount);
    const double latencyTop = niceCeiling(maxLatency);
    const double slot = double(plot.width()) / n;

    // The breaker's state behind everything. Unnoted seconds carry the state before them.
    CircuitState carried = CircuitState::Closed;
    for (int i = 0; i < n; ++i) {
        const qint64 second = samples[i].second;
        const auto k = size_t(((second % kStates) + kStates) % kStates);
        if (m_stateSecond[k] == second)
            carried = m_state[k];
        if (!m_breaker || carried == CircuitState::Closed)
            continue;
        QColor band = StateBadge::color(carried);
        band.setAlpha(carried == CircuitState::Open ? 48 : 64);
        const int x0 = plot.left() + int(std::floor(i * slot));
        const int x1 = plot.left() + int(std::floor((i + 1) * slot));
        p.fillRect(QRect(x0, plot.top(), x1 - x0, plot.height()), band);
    }

    // Grid and axes labels.
    p.setPen(grid);
    for (int g = 0; g <= 4; ++g) {
        const int y = plot.bottom() - int(std::lround(plot.height() * g / 4.0));
        p.drawLine(plot.left(), y, plot.right(), y);
    }
    p.setPen(muted);
    for (int g = 0; g <= 4; g += 2) {
        const int y = plot.bottom() - int(std::lround(plot.height() * g / 4.0));
        const QRect leftLabel(0, y - fm.height() / 2, left - 6, fm.height());
        p.drawText(leftLabel, Qt::AlignRight | Qt::AlignVCenter, formatCount(countTop * g / 4));
        if (maxLatency > 0) {
            const QRect rightLabel(plot.right() + 6, y - fm.height() / 2, right - 6, fm.height());
            p.setPen(kLatency);
            p.drawText(rightLabel, Qt::AlignLeft | Qt::AlignVCenter, formatMs(latencyTop * g / 4));
            p.setPen(muted);
        }
    }
    const int ty = plot.bottom() + 3;
    p.drawText(QRect(plot.left(), ty, 80, fm.height()), Qt::AlignLeft,
               QStringLiteral("-%1 s").arg(n));
    p.drawText(QRect(plot.center().x() - 40, ty, 80, fm.height()), Qt::AlignHCenter,
               QStringLiteral("-%1 s").arg(n / 2));
    p.drawText(QRect(plot.right() - 80, ty, 80, fm.height()), Qt::AlignRight, tr("now"));

    // Stacked outcomes per second.
    const double yScale = plot.height() / countTop;
    const int gap = slot >= 5 ? 1 : 0;
    for (int i = 0; i < n; ++i) {
        const MetricsSample &s = samples[i];
        if (s.total() == 0)
            continue;
        const int x0 = plot.left() + int(std::floor(i * slot));
        const int w = qMax(1, plot.left() + int(std::floor((i + 1) * slot)) - x0 - gap);
        double base = 0;
        const std::pair<double, QColor> layers[] = {
                {double(s.count(Outcome::Success)), kSuccess},
                {double(s.count(Outcome::Failure) + s.count(Outcome::Error)), kFailure},
                {double(s.count(Outcome::TimedOut)), kTimeout},
                {double(s.count(Outcome::Rejected)), kRejected},
        };
        for (const auto &[count, color] : layers) {
            if (count <= 0)
                continue;
            const int yTop = plot.bottom() + 1 - int(std::lround((base + count) * yScale));
            const int yBottom = plot.bottom() + 1 - int(std::lround(base * yScale));
            if (yBottom > yTop)
                p.fillRect(QRect(x0, yTop, w, yBottom - yTop), color);
            base += count;
        }
    }

    // p90 latency, a line over the bars; gaps where nothing ran.
    if (maxLatency > 0) {
        p.setRenderHint(QPainter::Antialiasing, true);
        QPainterPath path;
        bool drawing = false;
        for (int i = 0; i < n; ++i) {
            const MetricsSample &s = samples[i];
            const bool ran = s.total() - s.count(Outcome::Rejected) - s.count(Outcome::Canceled) >
                    0;
            if (!ran) {
                drawing = false;
                continue;
            }
            const QPointF pt(plot.left() + (i + 0.5) * slot,
                             plot.bottom() - s.p90LatencyMs / latencyTop * plot.height());
            if (drawing)
                path.lineTo(pt);
            else
                path.moveTo(pt);
            drawing = true;
        }
        QColor halo = pal.color(QPalette::Base);
        halo.setAlpha(170);
        p.strokePath(path, QPen(halo, 4.5, Qt::SolidLine, Qt::RoundCap, Qt::RoundJoin));
        p.strokePath(path, QPen(kLatency, 2, Qt::SolidLine, Qt::RoundCap, Qt::RoundJoin));
        p.setRenderHint(QPainter::Antialiasing, false);
    }

    // Legend.
    struct Entry
    {
        QString text;
        QColor color;
        bool line;
    };
    QList<Entry> legend = {{tr("success"), kSuccess, false},
                           {tr("failure"), kFailure, false},
                           {tr("timeout"), kTimeout, false},
                           {tr("rejected"), kRejected, false},
                           {tr("p90 latency"), kLatency, true}};
    if (m_breaker) {
        QColor open = StateBadge::color(CircuitState::Open);
        open.setAlpha(90);
        QColor half = StateBadge::color(CircuitState::HalfOpen);
        half.setAlpha(110);
        legend.append({tr("open"), open, false});
        legend.append({tr("half-open"), half, false});
    }
    int x = plot.left();
    const int sw = fm.height() * 2 / 3;
    for (const Entry &e : legend) {
        const int cy = legendH / 2 - 1;
        if (e.line) {
            p.fillRect(QRect(x, cy - 1, sw + 4, 3), e.color);
            x += sw + 8;
        } else {
            p.fillRect(QRect(x, cy - sw / 2, sw, sw), e.color);
            x += sw + 4;
        }
        p.setPen(muted);
        const int tw = fm.horizontalAdvance(e.text);
        p.drawText(QRect(x, 0, tw + 2, legendH - 2), Qt::AlignVCenter | Qt::AlignLeft, e.text);
        x += tw + 12;
    }
}

} // namespace kompoz
