// Text, JSON and GitHub renderings of a verdict and of the engine's other
// events. All are built in memory and handed to the sink as one buffer, so
// each event is one write(2).
#include "report.hpp"

#include "address.hpp"
#include "common/escape.hpp"
#include "common/markup.hpp"

#include <algorithm>
#include <ctime>
#include <fmt/format.h>
#include <iterator>

namespace portshim {

namespace {

bool is_unix(Proto p) { return p == Proto::unix_stream || p == Proto::unix_dgram; }

/**
 * Every event's envelope, {"event":EVENT,"time":…,"pid":…,"exe":… without the
 * closing brace: the keys and order the hooks' put_json_event_head writes.
 */
std::string json_envelope(std::string_view event, const ReportContext& ctx) {
    std::string out = fmt::format("{{\"event\":\"{}\",\"time\":{},\"pid\":{},\"exe\":{}", event,
                                  json_string(rfc3339(ctx.now)), ctx.pid, json_string(ctx.exe));
    if (!ctx.observed.empty()) fmt::format_to(std::back_inserter(out), ",\"observed\":\"{}\"", ctx.observed);
    return out;
}

/**
 * Where a socket is, the same in every event (and in the hooks' put_json_where):
 * ,"address":"0.0.0.0","port":8080 or ,"address":PATH,"path":PATH.
 */
void append_json_where(std::string& out, Proto proto, const Endpoint& local,
                       const std::string& unix_path) {
    if (is_unix(proto))
        fmt::format_to(std::back_inserter(out), ",\"address\":{},\"path\":{}", json_string(unix_path),
                       json_string(unix_path));
    else
        fmt::format_to(std::back_inserter(out), ",\"address\":{},\"port\":{}",
                       json_string(format_address(local)), local.port);
}

/** "0.0.0.0:8080", "[::1]:53" or the unix path: where a socket is, for text. */
std::string where_text(Proto proto, const Endpoint& local, const std::string& unix_path) {
    return is_unix(proto) ? unix_path : format_endpoint(local);
}

const char* call_name(Call call) { return call == Call::listen ? "listen" : "bind"; }

/** ,"call":"bind","proto":"tcp" and where (append_json_where): the call of bind-failed, repeated, waiting. */
void append_json_call(std::string& out, const Request& req) {
    fmt::format_to(std::back_inserter(out), ",\"call\":\"{}\",\"proto\":\"{}\"", call_name(req.call),
                   proto_name(req.proto));
    append_json_where(out, req.proto, req.local, req.unix_path);
}

void append_holder_json(std::string& out, const Holder& h) {
    std::string cmdline;
    for (const std::string& a : h.argv) {
        if (!cmdline.empty()) cmdline += ' ';
        cmdline += a;
    }
    fmt::format_to(std::back_inserter(out),
                   "{{\"pid\":{},\"ppid\":{},\"comm\":{},\"exe\":{},\"cmdline\":{},\"uid\":{},"
                   "\"fd\":{},\"cloexec\":{}}}",
                   h.pid, h.ppid, json_string(h.comm), json_string(h.exe), json_string(cmdline),
                   h.uid, h.fd, h.cloexec ? "true" : "false");
}

/** {pid, exe, start_time, alive}, plus source for bind-failed; unknown values are null. */
void append_opener_json(std::string& out, const Opener& o, bool with_source) {
    fmt::format_to(std::back_inserter(out), "{{\"pid\":{},\"exe\":{},\"start_time\":{},\"alive\":{}",
                   o.pid > 0 ? std::to_string(o.pid) : "null",
                   o.exe.empty() ? "null" : json_string(o.exe),
                   o.start_time > 0 ? json_string(rfc3339(o.start_time)) : "null",
                   o.alive ? "true" : "false");
    if (with_source) fmt::format_to(std::back_inserter(out), ",\"source\":{}", json_string(o.source));
    out += '}';
}

void append_fd_json(std::string& out, const EventFd& f) {
    fmt::format_to(std::back_inserter(out), "{{\"fd\":{},\"proto\":\"{}\"", f.fd,
                   proto_name(f.proto));
    append_json_where(out, f.proto, f.local, f.unix_path);
    fmt::format_to(std::back_inserter(out), ",\"cloexec\":{}}}", f.cloexec ? "true" : "false");
}

/** "fd 3 (tcp 0.0.0.0:8080)", "fds 3 (tcp 0.0.0.0:8080) and 4 (unix /run/x.sock)". */
std::string describe_fds(const std::vector<EventFd>& fds, int more) {
    std::string out = fds.size() + static_cast<std::size_t>(more) == 1 ? "fd " : "fds ";
    for (std::size_t i = 0; i < fds.size(); ++i) {
        const EventFd& f = fds[i];
        if (i != 0) out += i + 1 == fds.size() && more == 0 ? " and " : ", ";
        fmt::format_to(std::back_inserter(out), "{} ({} {})", f.fd, proto_name(f.proto),
                       where_text(f.proto, f.local, f.unix_path));
    }
    if (more > 0) fmt::format_to(std::back_inserter(out), " and {} more", more);
    return out;
}

void append_string_array(std::string& out, const std::vector<std::string>& items) {
    out += '[';
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i != 0) out += ',';
        out += json_string(items[i]);
    }
    out += ']';
}

/** `text` in an ANSI colour when `colour`, as it is otherwise. */
std::string paint(bool colour, const char* sgr, std::string_view text) {
    if (!colour) return std::string(text);
    return fmt::format("{}{}{}", sgr, text, markup::reset);
}

/** "fn+0x1c (/usr/lib/libx.so.1)", "/opt/server+0x11e9" without a symbol, "0x7f…" without either. */
std::string describe_frame(const Frame& f) {
    if (!f.symbol.empty())
        return f.module.empty() ? fmt::format("{}+{:#x}", f.symbol, f.offset)
                                : fmt::format("{}+{:#x} ({})", f.symbol, f.offset, f.module);
    if (!f.module.empty()) return fmt::format("{}+{:#x}", f.module, f.module_offset);
    return fmt::format("{:#x}", f.pc);
}

void append_backtrace_json(std::string& out, const std::vector<Frame>& frames) {
    out += '[';
    for (std::size_t i = 0; i < frames.size(); ++i) {
        const Frame& f = frames[i];
        fmt::format_to(std::back_inserter(out),
                       "{}{{\"pc\":\"{:#x}\",\"symbol\":{},\"offset\":{},\"module\":{},"
                       "\"module_offset\":\"{:#x}\"}}",
                       i != 0 ? "," : "", f.pc, f.symbol.empty() ? "null" : json_string(f.symbol),
                       f.offset, f.module.empty() ? "null" : json_string(f.module), f.module_offset);
    }
    out += ']';
}

/** One labelled line of a bind-failed report after its headline. */
struct ReportLine {
    const char* label;                ///< "why", "fix", "confirm", "called from", "seen"
    std::string text;
};

/**
 * The lines after the headline, the same in text and annotations: why, fix,
 * confirm, the caller's top frames, then as much evidence as fits, so the
 * whole report stays within about 12 lines. Their text is escaped (visible()):
 * holders' names, paths and command lines are in it.
 */
std::vector<ReportLine> report_lines(const Verdict& v, const ReportContext& ctx) {
    std::vector<ReportLine> lines;
    int budget = 10;
    for (const std::string& w : v.why)
        if (budget-- > 0) lines.push_back({"why", visible(w)});
    if (!v.fix.empty()) lines.push_back({"fix", visible(v.fix)}), --budget;
    if (!v.confirm.empty()) {
        std::string joined;
        for (const std::string& c : v.confirm) joined += (joined.empty() ? "" : "; ") + c;
        lines.push_back({"confirm", visible(joined)});
        --budget;
    }
    if (!ctx.backtrace.empty())
        lines.push_back({"called from", visible(describe_backtrace(ctx.backtrace))}), --budget;
    // Evidence is secondary: only as much as fits.
    for (const std::string& e : v.evidence)
        if (budget-- > 0) lines.push_back({"seen", visible(e)});
    return lines;
}

/** Text: "portshim[PID]:   LABEL: TEXT", the label bold on a terminal; TEXT already visible(). */
void append_text_line(std::string& out, const ReportContext& ctx, std::string_view label,
                      std::string_view text) {
    if (ctx.outside)
        fmt::format_to(std::back_inserter(out), "portshim:   {}: {}\n", paint(ctx.colour, markup::bold, label),
                       text);
    else
        fmt::format_to(std::back_inserter(out), "portshim[{}]:   {}: {}\n", ctx.pid,
                       paint(ctx.colour, markup::bold, label), text);
}

/** Text: "portshim[PID]: warning: TEXT", the word yellow on a terminal, TEXT escaped. */
std::string text_warning(const ReportContext& ctx, std::string_view text) {
    return fmt::format("portshim[{}]: {} {}\n", ctx.pid, paint(ctx.colour, markup::yellow, "warning:"),
                       visible(text));
}

void append_github_escaped(std::string& out, std::string_view s, bool property) {
    for (const char c : s) {
        if (const char* escaped = markup::github_escape(c, property)) out += escaped;
        else out += c;
    }
}

} // namespace

std::string json_string(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        const escape::Piece p = escape::json_piece(s.data() + i, s.size() - i);
        out.append(p.data(s.data() + i), p.size);
        i += p.consumed;
    }
    out += '"';
    return out;
}

std::string visible(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const escape::Piece p = escape::text_piece(s.data() + i, s.size() - i);
        out.append(p.data(s.data() + i), p.size);
        i += p.consumed;
    }
    return out;
}

std::string rfc3339(double epoch_seconds) {
    const auto whole = static_cast<std::time_t>(epoch_seconds); // times are after 1970: truncation is floor
    const int millis = static_cast<int>((epoch_seconds - static_cast<double>(whole)) * 1000) % 1000;
    std::tm tm{};
    gmtime_r(&whole, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

std::string describe_call(const Request& req) {
    return fmt::format("{}({}/{})", call_name(req.call), where_text(req.proto, req.local, req.unix_path),
                       proto_name(req.proto));
}

std::string describe_checked(const Request& req) {
    if (is_unix(req.proto)) return "unix:" + req.unix_path;
    return fmt::format("{}/{}", format_endpoint(req.local), proto_name(req.proto));
}

std::string github_annotation(Level level, std::string_view title,
                              const std::vector<std::string>& lines) {
    std::string out = fmt::format("::{} title=", markup::github_command(level));
    append_github_escaped(out, "portshim: ", true);
    append_github_escaped(out, visible(title), true);
    out += "::";
    for (std::size_t i = 0; i < lines.size(); ++i)
        append_github_escaped(out, (i != 0 ? "\n" : "") + visible(lines[i]), false);
    out += '\n';
    return out;
}

std::string describe_backtrace(const std::vector<Frame>& frames, std::size_t count) {
    std::string out;
    for (std::size_t i = 0; i < frames.size() && i < count; ++i)
        out += (i != 0 ? " < " : "") + describe_frame(frames[i]);
    return out;
}

// Text: every value is escaped before the line is painted and assembled, so
// only the renderer's own '\n' ends a line and only its own SGR colours it.
std::string headline(const Request& req, const Verdict& v) {
    return fmt::format("{} failed: {} — {}: {}", visible(describe_call(req)), errno_name(req.err),
                       visible(cause_id(v.cause)), visible(v.summary));
}

journal::Fields JournalView::as_fields() const {
    journal::Fields out;
    out.message = message.data();
    out.message_len = message.size();
    for (const auto& [name, value] : fields) out.add(name, value.data(), value.size());
    return out;
}

JournalView journal_event_view(std::string_view event, std::string_view text, const ReportContext& ctx) {
    JournalView view;
    std::string_view first = text.substr(0, text.find('\n'));
    const std::string tag = fmt::format("portshim[{}]: ", ctx.pid);
    if (first.substr(0, tag.size()) == tag) first.remove_prefix(tag.size());
    view.message = std::string(first);
    view.add("PORTSHIM_EVENT", std::string(event));
    if (!ctx.exe.empty()) view.add("PORTSHIM_EXE", ctx.exe);
    return view;
}

JournalView journal_view(const Request& req, const Verdict& v, const ReportContext& ctx, int repeats) {
    JournalView view;
    view.message = repeats > 0 ? fmt::format("{} failed {} more time{} since the last report, same cause: {}: {}",
                                             visible(describe_call(req)), repeats, repeats == 1 ? "" : "s",
                                             visible(cause_id(v.cause)), visible(v.summary))
                               : headline(req, v);
    view.add("PORTSHIM_EVENT", repeats > 0 ? "repeated" : "bind-failed");
    view.add("PORTSHIM_CAUSE", std::string(cause_id(v.cause)));
    view.add("PORTSHIM_CALL", call_name(req.call));
    view.add("PORTSHIM_PROTO", proto_name(req.proto));
    if (is_unix(req.proto)) {
        view.add("PORTSHIM_ADDRESS", req.unix_path);
        view.add("PORTSHIM_PATH", req.unix_path);
    } else {
        view.add("PORTSHIM_ADDRESS", format_address(req.local));
        view.add("PORTSHIM_PORT", std::to_string(req.local.port));
    }
    view.add("PORTSHIM_ERRNO", errno_name(req.err));
    if (!ctx.exe.empty()) view.add("PORTSHIM_EXE", ctx.exe);
    if (!ctx.observed.empty()) view.add("PORTSHIM_OBSERVED", std::string(ctx.observed));
    if (repeats > 0) {
        view.add("PORTSHIM_REPEATS", std::to_string(repeats));
        return view;
    }
    if (!v.fix.empty()) view.add("PORTSHIM_FIX", v.fix);
    for (std::size_t i = 0; i < v.confirm.size() && i < 2; ++i) view.add("PORTSHIM_CONFIRM", v.confirm[i]);
    // The first few holders: a prefork server's sixteen workers would crowd out the rest.
    view.add("PORTSHIM_HOLDERS", std::to_string(v.holders.size()));
    for (std::size_t i = 0; i < v.holders.size() && i < 3; ++i) {
        const Holder& h = v.holders[i];
        view.add("PORTSHIM_HOLDER_PID", std::to_string(h.pid));
        view.add("PORTSHIM_HOLDER_EXE", h.exe.empty() ? h.comm : h.exe);
        view.add("PORTSHIM_HOLDER_UID", std::to_string(h.uid));
    }
    if (v.opener && v.opener->pid > 0) {
        view.add("PORTSHIM_OPENER_PID", std::to_string(v.opener->pid));
        if (!v.opener->exe.empty()) view.add("PORTSHIM_OPENER_EXE", v.opener->exe);
    }
    return view;
}

std::string render_text(const Request& req, const Verdict& v, const ReportContext& ctx) {
    const std::string cause = paint(ctx.colour, markup::bold_red, visible(cause_id(v.cause)));
    std::string out =
        ctx.outside ? fmt::format("portshim: {} is in use — {}: {}\n", visible(describe_checked(req)), cause,
                                  visible(v.summary))
                    : fmt::format("portshim[{}]: {} failed: {} — {}: {}\n", ctx.pid,
                                  visible(describe_call(req)), errno_name(req.err), cause,
                                  visible(v.summary));
    if (ctx.observed == "supervisor-predicted")
        append_text_line(out, ctx, "predicted",
                         "seen by portshim-supervise before the kernel ran the call in the program, "
                         "which gets the kernel's own answer; a change in between can make this wrong");
    for (const ReportLine& line : report_lines(v, ctx)) append_text_line(out, ctx, line.label, line.text);
    return out;
}

std::string render_github(const Request& req, const Verdict& v, const ReportContext& ctx) {
    std::vector<std::string> lines{v.summary};
    for (const ReportLine& line : report_lines(v, ctx))
        lines.push_back(fmt::format("{}: {}", line.label, line.text));
    return github_annotation(
        Level::error, fmt::format("{} failed: {} — {}", describe_call(req), errno_name(req.err), cause_id(v.cause)),
        lines);
}

std::string render_json(const Request& req, const Verdict& v, const ReportContext& ctx) {
    std::string out = json_envelope("bind-failed", ctx);
    append_json_call(out, req);
    fmt::format_to(std::back_inserter(out), ",\"errno\":{},\"cause\":{},\"summary\":{},\"holders\":[", req.err,
                   json_string(cause_id(v.cause)), json_string(v.summary));
    for (std::size_t i = 0; i < v.holders.size(); ++i) {
        if (i != 0) out += ',';
        append_holder_json(out, v.holders[i]);
    }
    out += ']';
    if (v.opener) {
        out += ",\"opener\":";
        append_opener_json(out, *v.opener, true);
    }
    out += ",\"why\":";
    append_string_array(out, v.why);
    out += ",\"evidence\":";
    append_string_array(out, v.evidence);
    fmt::format_to(std::back_inserter(out), ",\"fix\":{},\"confirm\":", json_string(v.fix));
    append_string_array(out, v.confirm);
    out += ",\"backtrace\":";
    append_backtrace_json(out, ctx.backtrace);
    out += "}\n";
    return out;
}

std::string render(Format format, const Request& req, const Verdict& v, const ReportContext& ctx) {
    if (format == Format::json) return render_json(req, v, ctx);
    if (format == Format::github) return render_github(req, v, ctx);
    return render_text(req, v, ctx);
}

std::string render_repeated(Format format, const Request& req, const Verdict& v, int repeats,
                            const ReportContext& ctx) {
    if (format == Format::json) {
        std::string out = json_envelope("repeated", ctx);
        append_json_call(out, req);
        fmt::format_to(std::back_inserter(out), ",\"errno\":{},\"cause\":{},\"repeats\":{}}}\n",
                       req.err, json_string(cause_id(v.cause)), repeats);
        return out;
    }
    const std::string head =
        fmt::format("{} failed {} more time{}", describe_call(req), repeats, repeats == 1 ? "" : "s");
    if (format == Format::github)
        return github_annotation(Level::info, head,
                                 {fmt::format("since the last report, same cause: {}: {}", cause_id(v.cause), v.summary)});
    return fmt::format("portshim[{}]: {} since the last report, same cause: {}: {}\n", ctx.pid,
                       visible(head), paint(ctx.colour, markup::bold_red, visible(cause_id(v.cause))),
                       visible(v.summary));
}

std::string render_waiting(Format format, const Request& req, const Verdict& v,
                           const WaitTimes& times, const ReportContext& ctx) {
    const int holder = v.holders.empty() ? 0 : v.holders.front().pid;
    const unsigned expected_s = (times.expected_ms + 999) / 1000;
    if (format == Format::json) {
        std::string out = json_envelope("waiting", ctx);
        append_json_call(out, req);
        fmt::format_to(std::back_inserter(out),
                       ",\"cause\":{},\"summary\":{},\"holder\":{},\"wait_seconds\":{},"
                       "\"timeout_left\":{},\"expected_seconds\":{}}}\n",
                       json_string(cause_id(v.cause)), json_string(v.summary), holder, times.wait_seconds,
                       times.seconds_left, expected_s);
        return out;
    }
    std::string why;
    if (times.expected_ms > 0) why = fmt::format("; the last TIME_WAIT remnant expires in {} s", expected_s);
    else if (holder != 0) why = fmt::format("; until pid {} lets go of it", holder);
    const std::string head = "PORTSHIM_WAIT: retrying " + describe_call(req);
    const std::string rest =
        fmt::format("for up to {} s ({} clears by itself{})", times.wait_seconds, cause_id(v.cause), why);
    if (format == Format::github) return github_annotation(Level::info, head, {rest});
    return fmt::format("portshim[{}]: {}\n", ctx.pid, visible(head + " " + rest));
}

std::string render_port_free(const Request& req, const ReportContext& ctx) {
    std::string out = json_envelope("port-free", ctx);
    fmt::format_to(std::back_inserter(out), ",\"proto\":\"{}\"", proto_name(req.proto));
    append_json_where(out, req.proto, req.local, req.unix_path);
    return out + "}\n";
}

bool reuseport_handover(const std::vector<ReuseportPeer>& peers) {
    return !peers.empty() && std::all_of(peers.begin(), peers.end(),
                                         [](const ReuseportPeer& p) { return p.same_program; });
}

std::string render_reuseport_shared(Format format, const Request& req,
                                    const std::vector<ReuseportPeer>& peers, const ReportContext& ctx) {
    const bool handover = reuseport_handover(peers);
    if (format == Format::json) {
        std::string out = json_envelope("reuseport-shared", ctx);
        fmt::format_to(std::back_inserter(out), ",\"proto\":\"{}\"", proto_name(req.proto));
        append_json_where(out, req.proto, req.local, req.unix_path);
        out += ",\"holders\":[";
        for (std::size_t i = 0; i < peers.size(); ++i) {
            if (i != 0) out += ',';
            append_holder_json(out, peers[i].holder);
        }
        return out + fmt::format("],\"same_program\":{}}}\n", handover ? "true" : "false");
    }
    std::string names, stop;
    for (const ReuseportPeer& p : peers) {
        const Holder& h = p.holder;
        names += fmt::format("{}pid {} ({}{})", names.empty() ? "" : ", ", h.pid,
                             h.exe.empty() ? h.comm : h.exe,
                             p.stop_pid != 0 && p.stop_pid != h.pid
                                 ? fmt::format(", a worker of pid {}", p.stop_pid)
                                 : std::string());
        const std::string pid = std::to_string(p.stop_pid != 0 ? p.stop_pid : h.pid);
        if ((" " + stop + " ").find(" " + pid + " ") == std::string::npos)
            stop += (stop.empty() ? "" : " ") + pid;
    }
    const std::string head =
        fmt::format("listen({}/tcp) shares the port through SO_REUSEPORT", format_endpoint(req.local));
    if (handover) {
        // Both run this program: an old instance serving out its connections (haproxy -sf).
        const std::string rest = fmt::format(
            "with {}, {} of this program: old and new instance share the port's connections "
            "until the old one exits — normal during a reload or hand-over; a problem only if "
            "both keep running, then stop the old one (kill -TERM {})",
            names, peers.size() == 1 ? "an earlier instance" : "earlier instances", stop);
        if (format == Format::github) return github_annotation(Level::info, head, {rest});
        return fmt::format("portshim[{}]: reuseport-shared: {}\n", ctx.pid, visible(head + " " + rest));
    }
    const std::string rest = fmt::format(
        "with {}: the kernel now splits incoming connections between them, so requests randomly "
        "reach the other program; stop it unless this is intended",
        names);
    if (format == Format::github) return github_annotation(Level::warn, head, {rest});
    return text_warning(ctx, head + " " + rest);
}

std::string render_inherited(Format format, const InheritedReport& r, const ReportContext& ctx) {
    if (format == Format::json) {
        std::string out = json_envelope("inherited", ctx);
        fmt::format_to(std::back_inserter(out), ",\"ppid\":{},\"parent_exe\":{},\"fds\":[", r.ppid,
                       r.parent_exe.empty() ? "null" : json_string(r.parent_exe));
        for (std::size_t i = 0; i < r.fds.size(); ++i) {
            if (i != 0) out += ',';
            append_fd_json(out, r.fds[i]);
        }
        out += ']';
        // The hooks' name for it (fork, exec-leak): "more" of a fork counts children.
        if (r.more > 0) fmt::format_to(std::back_inserter(out), ",\"fds_not_listed\":{}", r.more);
        out += ",\"opener\":";
        if (r.opener) append_opener_json(out, *r.opener, false);
        else out += "null";
        const char* handover = handover_id(r.handover);
        fmt::format_to(std::back_inserter(out), ",\"handover\":{}}}\n",
                       handover != nullptr ? json_string(handover) : "null");
        return out;
    }
    const std::string fds = describe_fds(r.fds, r.more);
    const bool several = r.fds.size() + static_cast<std::size_t>(r.more) > 1;
    std::string how = "that it did not open";
    if (r.handover == Handover::listen_fds) how = "handed over through LISTEN_FDS";
    else if (r.handover == Handover::self_exec) how = "kept across an exec of its own program";
    else if (r.handover == Handover::closes_fds) how = "that it closes before it execs the program it starts";
    std::string opener = "opener unknown (no registry record)";
    if (r.opener)
        opener = fmt::format("opened by pid {} ({}), which {}", r.opener->pid,
                             r.opener->exe.empty() ? "unknown program" : r.opener->exe,
                             r.opener->alive ? "still runs" : "has exited");
    const std::string what = fmt::format("this process ({}) started holding listening {} {}; parent "
                                         "pid {} ({}); {}",
                                         ctx.exe, fds, how, r.ppid,
                                         r.parent_exe.empty() ? "unknown program" : r.parent_exe, opener);
    std::string why;
    if (r.handover == Handover::listen_fds)
        why = "systemd-style socket activation (LISTEN_PID/LISTEN_FDS) hands listening sockets "
              "over by design: not a leak";
    else if (r.handover == Handover::self_exec)
        why = "the program re-executed itself (a binary upgrade) and kept its sockets by design: "
              "not a leak";
    else if (r.handover == Handover::closes_fds)
        why = "a spawn helper (OpenJDK's jspawnhelper) closes every inherited descriptor before it "
              "execs the program it was asked to run: not a leak";
    else
        why = fmt::format(
            "{} had no O_CLOEXEC, so {} survived exec: this process keeps {} busy {} until it "
            "closes {} or exits; create {} with SOCK_CLOEXEC in the opener, or run it with "
            "PORTSHIM_CLOEXEC=1 (portshim-run --cloexec)",
            several ? "these descriptors" : "the descriptor", several ? "they" : "it",
            several ? "their ports" : "the port",
            r.opener && !r.opener->alive ? "although the opener is gone,"
                                         : "even after the opener exits,",
            several ? "them" : "it", several ? "listening sockets" : "the listening socket");
    if (format == Format::github) return github_annotation(Level::info, "inherited", {what, "why: " + why});
    std::string out = fmt::format("portshim[{}]: inherited: {}\n", ctx.pid, visible(what));
    append_text_line(out, ctx, "why", visible(why));
    return out;
}

std::string config_error_message(const ConfigError& error) {
    const std::string_view value = error.value != nullptr ? error.value : "";
    if (error.secure_ignored)
        return fmt::format("{} ignored under secure execution (setuid/setgid): paths from the "
                           "environment are not trusted there",
                           error.name);
    return fmt::format("{}={:?} is not valid ({}); using the default", error.name, value,
                       error.accepted != nullptr ? error.accepted : "see man 7 portshim");
}

std::string render_config_error(Format format, std::string_view message, const ReportContext& ctx) {
    if (format == Format::json)
        return fmt::format("{},\"message\":{}}}\n", json_envelope("config-error", ctx), json_string(message));
    if (format == Format::github) return github_annotation(Level::warn, "configuration", {std::string(message)});
    return text_warning(ctx, message);
}

} // namespace portshim
