// SPDX-License-Identifier: MIT
#include "circuitbreakerview.h"

#include "metricschart.h"
#include "statebadge.h"

#include <kompoz/circuitbreaker.h>
#include <kompoz/limiter.h>
#include <kompoz/rollingmetrics.h>
#include <kompoz/timeout.h>

#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QTimer>
#include <QVBoxLayout>

namespace kompoz {

namespace {
QString formatLatency(double ms)
{
    if (ms <= 0)
        return QStringLiteral("–");
    if (ms < 10)
        return QString::number(ms, 'f', 1) + QLatin1String(" ms");
    if (ms < 10000)
        return QString::number(ms, 'f', 0) + QLatin1String(" ms");
    return QString::number(ms / 1000, 'f', 1) + QLatin1String(" s");
}

QString formatTime(const QDateTime &t)
{
    return t.isValid() ? t.toLocalTime().toString(QStringLiteral("HH:mm:ss.zzz"))
                       : QStringLiteral("–");
}

void setTextIfChanged(QLabel *label, const QString &text)
{
    if (label->text() != text)
        label->setText(text);
}
} // namespace

CircuitBreakerView::CircuitBreakerView(CircuitBreaker *breaker, ConcurrencyPool *pool,
                                       RollingMetrics *metrics, TimeoutPolicy *timeout,
                                       QWidget *parent)
    : QFrame(parent),
      m_breaker(breaker),
      m_pool(pool),
      m_metrics(metrics),
      m_timeout(timeout),
      m_title(new QLabel(this)),
      m_badge(new StateBadge(this)),
      m_timer(new QTimer(this))
{
    setObjectName(QStringLiteral("circuitBreakerView"));
    setFrameShape(QFrame::StyledPanel);
    setAutoFillBackground(true);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(14, 12, 14, 12);
    layout->setSpacing(10);

    auto *header = new QHBoxLayout;
    m_title->setObjectName(QStringLiteral("title"));
    QFont titleFont = m_title->font();
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.35);
    titleFont.setBold(true);
    m_title->setFont(titleFont);
    m_title->setText(breaker && !breaker->objectName().isEmpty() ? breaker->objectName()
                                                                 : tr("Circuit breaker"));
    header->addWidget(m_title, 1);
    header->addWidget(m_badge);
    layout->addLayout(header);

    // The headline figures, large; the counts below them, smaller.
    auto *figures = new QGridLayout;
    figures->setHorizontalSpacing(12);
    figures->setVerticalSpacing(2);
    m_successRate = addValue(figures, 0, 0, tr("Success (10 s)"), QStringLiteral("successRate"),
                             true);
    m_throughput = addValue(figures, 0, 1, tr("Throughput"), QStringLiteral("throughput"), true);
    m_p50 = addValue(figures, 0, 2, tr("p50"), QStringLiteral("p50Latency"), true);
    m_p90 = addValue(figures, 0, 3, tr("p90"), QStringLiteral("p90Latency"), true);
    m_p99 = addValue(figures, 0, 4, tr("p99"), QStringLiteral("p99Latency"), true);
    layout->addLayout(figures);

    auto *line = new QFrame(this);
    line->setFrameShape(QFrame::HLine);
    line->setFrameShadow(QFrame::Plain);
    line->setStyleSheet(QStringLiteral("color: palette(mid);"));
    layout->addWidget(line);

    auto *counts = new QGridLayout;
    counts->setHorizontalSpacing(12);
    counts->setVerticalSpacing(2);
    m_successCount = addValue(counts, 0, 0, tr("Successes"), QStringLiteral("successCount"), false);
    m_failureCount = addValue(counts, 0, 1, tr("Failures in a row"), QStringLiteral("failureCount"),
                              false);
    m_halfOpenSuccesses = addValue(counts, 0, 2, tr("Half-open ok"),
                                   QStringLiteral("halfOpenSuccesses"), false);
    m_rejectedCount = addValue(counts, 0, 3, tr("Rejected"), QStringLiteral("rejectedCount"),
                               false);
    m_timedOutCount = addValue(counts, 2, 0, tr("Timed out"), QStringLiteral("timedOutCount"),
                               false);
    m_inFlight = addValue(counts, 2, 1, tr("In flight"), QStringLiteral("inFlight"), false);
    m_queued = addValue(counts, 2, 2, tr("Queued"), QStringLiteral("queued"), false);
    m_lastFailure = addValue(counts, 4, 0, tr("Last failure"), QStringLiteral("lastFailureTime"),
                             false);
    m_lastSuccess = addValue(counts, 4, 2, tr("Last success"), QStringLiteral("lastSuccessTime"),
                             false);
    layout->addLayout(counts);

    if (metrics) {
        m_chart = new MetricsChart(metrics, breaker, this);
        layout->addWidget(m_chart, 1);
    }

    if (breaker) {
        m_badge->setState(breaker->state());
        // State changes are rare and each matters (a half-open period may last a few ms):
        // shown at once, not at the next refresh.
        connect(breaker, &CircuitBreaker::transitioned, this,
                [this](CircuitState, CircuitState to) {
                    m_badge->setState(to);
                    if (m_chart && m_metrics)
                        m_chart->noteState(m_metrics->currentSecond(), to);
                    markStale();
                });
        connect(breaker, &CircuitBreaker::statsChanged, this, &CircuitBreakerView::markStale);
        connect(breaker, &CircuitBreaker::objectNameChanged, m_title, &QLabel::setText);
    }
    if (pool) {
        connect(pool, &ConcurrencyPool::activeChanged, this, &CircuitBreakerView::markStale);
        connect(pool, &ConcurrencyPool::queuedChanged, this, &CircuitBreakerView::markStale);
    }
    if (timeout)
        connect(timeout, &TimeoutPolicy::timedOutCountChanged, this,
                &CircuitBreakerView::markStale);
    if (metrics)
        connect(metrics, &RollingMetrics::figuresChanged, this, &CircuitBreakerView::markStale);

    // The one clock of the card: coalesces every notification into one redraw per interval.
    m_timer->setInterval(100);
    connect(m_timer, &QTimer::timeout, this, &CircuitBreakerView::tick);
    m_timer->start();
    refresh();
}

CircuitBreakerView::~CircuitBreakerView() = default;

QLabel *CircuitBreakerView::addValue(QGridLayout *grid, int row, int column, const QString &caption,
                                     const QString &objectName, bool large)
{
    auto *captionLabel = new QLabel(caption.toUpper(), this);
    QFont cf = captionLabel->font();
    cf.setPointSizeF(cf.pointSizeF() * 0.78);
    cf.setLetterSpacing(QFont::PercentageSpacing, 106);
    captionLabel->setFont(cf);
    captionLabel->setForegroundRole(QPalette::PlaceholderText);
    auto *value = new QLabel(QStringLiteral("–"), this);
    value->setObjectName(objectName);
    value->setAccessibleName(caption);
    value->setTextInteractionFlags(Qt::TextSelectableByMouse);
    QFont vf = value->font();
    if (large) {
        vf.setPointSizeF(vf.pointSizeF() * 1.45);
        vf.setBold(true);
    } else {
        vf.setPointSizeF(vf.pointSizeF() * 1.05);
    }
    vf.setStyleHint(QFont::SansSerif);
    value->setFont(vf);
    const int span = objectName.endsWith(QLatin1String("Time")) ? 2 : 1;
    grid->addWidget(captionLabel, row, column, 1, span);
    grid->addWidget(value, row + 1, column, 1, span);
    return value;
}

QString CircuitBreakerView::title() const { return m_title->text(); }

void CircuitBreakerView::setTitle(const QString &title) { m_title->setText(title); }

int CircuitBreakerView::refreshInterval() const { return m_timer->interval(); }

void CircuitBreakerView::setRefreshInterval(int ms) { m_timer->setInterval(qMax(16, ms)); }

QLabel *CircuitBreakerView::valueLabel(const QString &objectName) const
{
    return findChild<QLabel *>(objectName);
}

void CircuitBreakerView::markStale() { m_stale = true; }

void CircuitBreakerView::tick()
{
    if (m_stale)
        refresh();
    if (m_chart)
        m_chart->tick();
}

void CircuitBreakerView::refresh()
{
    m_stale = false;
    if (m_breaker) {
        const CircuitBreakerStats s = m_breaker->stats();
        m_badge->setState(s.state);
        setTextIfChanged(m_successCount, QString::number(s.successCount));
        setTextIfChanged(m_failureCount, QString::number(s.failureCount));
        setTextIfChanged(m_halfOpenSuccesses, QString::number(s.halfOpenSuccesses));
        setTextIfChanged(m_rejectedCount, QString::number(s.rejectedCount));
        setTextIfChanged(m_lastFailure, formatTime(s.lastFailureTime));
        setTextIfChanged(m_lastSuccess, formatTime(s.lastSuccessTime));
    }
    if (m_timeout)
        setTextIfChanged(m_timedOutCount, QString::number(m_timeout->timedOutCount()));
    if (m_pool) {
        setTextIfChanged(m_inFlight, QString::number(m_pool->active()));
        setTextIfChanged(m_queued, QString::number(m_pool->queued()));
    }
    if (m_metrics) {
        const bool any = m_metrics->windowCount() > 0;
        setTextIfChanged(m_successRate,
                         any ? QString::number(m_metrics->successRate() * 100, 'f', 1) +
                                         QLatin1String(" %")
                             : QStringLiteral("–"));
        setTextIfChanged(m_throughput,
                         QString::number(m_metrics->throughput(), 'f',
                                         m_metrics->throughput() < 100 ? 1 : 0) +
                                 QLatin1String("/s"));
        setTextIfChanged(m_p50, formatLatency(m_metrics->p50LatencyMs()));
        setTextIfChanged(m_p90, formatLatency(m_metrics->p90LatencyMs()));
        setTextIfChanged(m_p99, formatLatency(m_metrics->p99LatencyMs()));
    }
}

} // namespace kompoz
