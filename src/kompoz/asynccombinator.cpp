// SPDX-License-Identifier: MIT
#include "asynccombinator.h"

#include <QLoggingCategory>

#include <string>

namespace kompoz::detail {

Q_LOGGING_CATEGORY(lcCore, "kompoz")

QString formatSeconds(double seconds)
{
    // kompoz prints Python floats: at least one decimal (5.0, 1.5, 0.05).
    QString s = QString::number(seconds, 'g', 15);
    if (!s.contains(QLatin1Char('.')) && !s.contains(QLatin1Char('e')))
        s += QLatin1String(".0");
    return s;
}

void throwInvalid(const char *function, const char *parameter, const char *problem)
{
    throw std::invalid_argument(std::string("kompoz::") + function + ": " + parameter + " " +
                                problem);
}

void warnDroppedError(const char *where)
{
    qCWarning(lcCore,
              "%s: the run threw; reporting {false, ctx}. Take a kompoz::Completion<T> "
              "to see the exception.",
              where);
}

void warnCallbackThrew(const char *what, std::exception_ptr e)
{
    try {
        std::rethrow_exception(std::move(e));
    } catch (const std::exception &ex) {
        qCWarning(lcCore, "%s threw (%s); the exception was dropped", what, ex.what());
    } catch (...) {
        qCWarning(lcCore, "%s threw; the exception was dropped", what);
    }
}

} // namespace kompoz::detail
