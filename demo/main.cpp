// SPDX-License-Identifier: MIT
// kompoz-dashboard: watch simulated services fail and recover behind Kompoz's combinators.
// Without arguments it runs interactively; --scenario plays a script, checks what happened and
// exits 0 when it went as expected.

#include "dashboardwindow.h"
#include "loadgenerator.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QFile>
#include <QTimer>

#include <cstdio>
#include <limits>

int main(int argc, char *argv[])
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("kompoz-dashboard"));
    applyDashboardTheme();

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
            "Live dashboard of Kompoz's circuit breaker, timeout and concurrency limit."));
    parser.addHelpOption();
    const QCommandLineOption scenario(QStringLiteral("scenario"),
                                      QStringLiteral("Play a scripted run: %1.")
                                              .arg(DashboardWindow::scenarios().join(u", ")),
                                      QStringLiteral("name"));
    const QCommandLineOption duration(QStringLiteral("duration"),
                                      QStringLiteral("Quit after this many seconds."),
                                      QStringLiteral("seconds"));
    const QCommandLineOption rate(QStringLiteral("rate"), QStringLiteral("Requests per second."),
                                  QStringLiteral("n"));
    const QCommandLineOption screenshot(
            QStringLiteral("screenshot"),
            QStringLiteral("Save the window to this PNG just before quitting."),
            QStringLiteral("file.png"));
    const QCommandLineOption summary(
            QStringLiteral("summary"),
            QStringLiteral("Write a text summary of the run to this file."),
            QStringLiteral("file"));
    parser.addOptions({scenario, duration, rate, screenshot, summary});
    parser.process(app);

    DashboardWindow window;
    window.show();

    const bool scripted = parser.isSet(scenario) || parser.isSet(duration);
    if (!scripted) {
        if (parser.isSet(rate))
            window.load()->setRate(parser.value(rate).toInt());
        QTimer::singleShot(0, &window, [&] {
            window.play(QString(), std::numeric_limits<double>::infinity());
        });
        return app.exec();
    }

    int exitCode = 0;
    QObject::connect(&window, &DashboardWindow::scenarioFinished, &app, [&](bool asExpected) {
        exitCode = asExpected ? 0 : 1;
        if (parser.isSet(screenshot)) {
            const QString file = parser.value(screenshot);
            if (!window.grab().save(file, "PNG")) {
                std::fprintf(stderr, "kompoz-dashboard: could not write %s\n", qPrintable(file));
                exitCode = 2;
            } else {
                std::printf("screenshot: %s\n", qPrintable(file));
            }
        }
        const QString text = window.summary();
        if (parser.isSet(summary)) {
            QFile out(parser.value(summary));
            if (out.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text)) {
                out.write(text.toUtf8());
                std::printf("summary: %s\n", qPrintable(parser.value(summary)));
            } else {
                std::fprintf(stderr, "kompoz-dashboard: could not write %s\n",
                             qPrintable(parser.value(summary)));
                exitCode = 2;
            }
        } else {
            std::fputs(text.toUtf8().constData(), stdout);
        }
        std::fflush(stdout);
        QApplication::exit(exitCode);
    });
    bool ok = false;
    const double seconds = parser.isSet(duration) ? parser.value(duration).toDouble(&ok) : 0;
    if (parser.isSet(duration) && (!ok || seconds <= 0)) {
        std::fprintf(stderr, "kompoz-dashboard: --duration needs a number of seconds > 0\n");
        return 2;
    }
    const int requests = parser.isSet(rate) ? parser.value(rate).toInt() : -1;
    const QString name = parser.value(scenario);
    QTimer::singleShot(0, &window, [&] {
        if (!window.play(name, seconds, requests)) {
            std::fprintf(stderr, "kompoz-dashboard: unknown scenario \"%s\" (known: %s)\n",
                         qPrintable(name), qPrintable(DashboardWindow::scenarios().join(u", ")));
            QApplication::exit(2);
        }
    });
    app.exec();
    return exitCode;
}
