package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Languages of the UI; zh (Simplified Chinese) is the default.
const (
	langZH = "zh"
	langEN = "en"
)

const langCookie = "imagent_lang"

// lang is the language of one response.
type lang string

// langOf picks the language: ?lang= (remembered in a cookie), then the cookie, then zh.
func langOf(w http.ResponseWriter, r *http.Request) lang {
	if q := r.URL.Query().Get("lang"); q == langZH || q == langEN {
		if w != nil {
			http.SetCookie(w, &http.Cookie{Name: langCookie, Value: q, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteStrictMode})
		}
		return lang(q)
	}
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == langZH || c.Value == langEN) {
		return lang(c.Value)
	}
	return langZH
}

// T returns the text for key; a missing key shows as itself (and fails TestCatalog).
func (l lang) T(key string) string {
	m, ok := catalog[key]
	if !ok {
		return key
	}
	if l == langEN {
		return m[1]
	}
	return m[0]
}

// Or returns the text for key, or fallback when the catalog has no such key.
func (l lang) Or(key, fallback string) string {
	if _, ok := catalog[key]; !ok {
		return fallback
	}
	return l.T(key)
}

// F formats the text for key with args.
func (l lang) F(key string, args ...any) string { return fmt.Sprintf(l.T(key), args...) }

// Code is the language's code for <html lang>.
func (l lang) Code() string {
	if l == langEN {
		return "en"
	}
	return "zh-CN"
}

// Other is the language the switch offers.
func (l lang) Other() string {
	if l == langEN {
		return langZH
	}
	return langEN
}

// JSON is the part of the catalog the script uses (keys starting with "js." and the names
// of states, quantities, commands, phases and verdicts), as JSON for a data block. Marshal
// escapes <, > and &, so it cannot end the block.
func (l lang) JSON() string {
	m := map[string]string{}
	for k := range catalog {
		for _, p := range []string{"js.", "state.", "q.", "cmd.", "phase.", "ph.", "kind.", "verdict.", "sync.", "check.", "status."} {
			if strings.HasPrefix(k, p) {
				m[k] = l.T(k)
			}
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// catalog holds every UI text: {Simplified Chinese, English}.
var catalog = map[string][2]string{
	"app.title":      {"尾气检测线 · 技术员控制台", "Emission lane · technician console"},
	"app.station":    {"检测站 %s · 检测线 %s", "Station %s · lane %s"},
	"nav.overview":   {"概览", "Overview"},
	"nav.devices":    {"设备", "Devices"},
	"nav.test":       {"检测", "Test"},
	"nav.records":    {"记录", "Records"},
	"nav.checks":     {"自检", "Self-checks"},
	"nav.config":     {"配置", "Configuration"},
	"nav.logout":     {"退出登录", "Log out"},
	"nav.lang":       {"English", "中文"},
	"nav.skip":       {"跳到正文", "Skip to content"},
	"common.none":    {"无", "none"},
	"common.never":   {"从未", "never"},
	"common.yes":     {"是", "yes"},
	"common.no":      {"否", "no"},
	"common.back":    {"返回", "Back"},
	"common.details": {"详情", "Details"},
	"common.loading": {"加载中…", "Loading…"},
	"common.run":     {"执行", "Run"},
	"common.time":    {"时间", "Time"},
	"common.result":  {"结果", "Result"},
	"common.device":  {"设备", "Device"},
	"common.search":  {"查询", "Search"},
	"common.seconds": {"%d 秒", "%d s"},
	"common.sim":     {"模拟", "simulated"},
	"common.simnote": {"模拟数据（模拟器或加速时钟），不是法定检测结果", "Simulated (simulators or a sped-up clock): not a regulated result"},
	"login.title":    {"登录", "Log in"},
	"login.password": {"密码", "Password"},
	"login.submit":   {"登录", "Log in"},
	"login.wrong":    {"密码错误。", "Wrong password."},
	"login.limited":  {"尝试次数过多，请稍后再试。", "Too many attempts; wait a little and try again."},
	"login.nopassword": {"未设置控制台密码，本机以外的设备无法访问控制台。请在检测线网关上运行 imagent console passwd，把输出的 password_hash 写入配置文件 [console] 一节，然后重启 imagent。",
		"No console password is set, so the console cannot be used from beyond this box. On the gateway run imagent console passwd, put the password_hash it prints into the [console] section of the configuration, and restart imagent."},
	"login.loopbacknote": {"本机访问也需要密码（配置项 allow_loopback_without_password 未开启）。", "Access from this box also needs the password (allow_loopback_without_password is off)."},

	"error.login":     {"请先登录。", "Please log in."},
	"error.csrf":      {"请求缺少有效的安全令牌，请刷新页面后重试。", "The request lacks a valid security token; reload the page and try again."},
	"error.origin":    {"请求来自其他网站，已拒绝。", "The request came from another site and was refused."},
	"error.notfound":  {"未找到。", "Not found."},
	"error.busy":      {"正在进行检测，设备命令和自检暂不可用。", "A test is running: device commands and self-checks are not available."},
	"error.internal":  {"内部错误：%s", "Internal error: %s"},
	"error.badinput":  {"输入有误：%s", "Invalid input: %s"},
	"error.noconfig":  {"此控制台未关联配置文件。", "This console has no configuration file."},
	"error.norestart": {"此进程不能自行重启，请手动重启 imagent。", "This process cannot restart itself; restart imagent by hand."},

	"overview.title":   {"概览", "Overview"},
	"overview.devices": {"设备", "Devices"},
	"overview.uplink":  {"平台上传", "Platform uplink"},
	"overview.clock":   {"时钟", "Clock"},
	"overview.checks":  {"今日自检", "Today's self-checks"},
	"overview.lane":    {"检测线", "Lane"},
	"overview.nodev":   {"配置中没有设备。", "No devices are configured."},
	"dev.state":        {"状态", "State"},
	"dev.age":          {"最后一帧", "Last frame"},
	"dev.values":       {"实时数据", "Live values"},
	"dev.port":         {"串口", "Port"},
	"dev.protocol":     {"协议", "Protocol"},
	"dev.model":        {"型号", "Model"},
	"dev.role":         {"角色", "Role"},
	"dev.poll":         {"轮询间隔", "Poll interval"},
	"dev.opens":        {"打开次数", "Times opened"},
	"dev.error":        {"最近错误", "Last error"},
	"dev.chart":        {"最近 5 分钟", "Last 5 minutes"},
	"dev.commands":     {"命令", "Commands"},
	"dev.nocommands":   {"此设备没有可用命令（驱动未提供，或设备未连接）。", "No commands for this device (the driver offers none, or the device is not connected)."},
	"dev.frames":       {"原始数据帧（诊断用）", "Raw frames (for diagnosis)"},
	"dev.statusbits":   {"设备状态位", "Device status"},
	"up.connected":     {"已连接", "connected"},
	"up.disconnected":  {"未连接", "not connected"},
	"up.broker":        {"MQTT 服务器", "MQTT broker"},
	"up.lastack":       {"平台最后确认", "Last platform ack"},
	"up.lasterror":     {"最近错误", "Last error"},
	"up.inflight":      {"传输中", "In flight"},
	"up.pending":       {"待发送", "Pending"},
	"up.sent":          {"已发送待确认", "Sent, awaiting ack"},
	"up.rejected":      {"平台拒收", "Rejected"},
	"up.bykind":        {"未确认（按类型）", "Un-acked by kind"},
	"up.oldest":        {"最早未确认记录", "Oldest un-acked"},
	"up.diskbytes":     {"缓存文件大小", "Outbox size on disk"},
	"clock.ntp":        {"已同步（NTP）", "synchronised (NTP)"},
	"clock.unsynced":   {"未同步：记录时间可能不准", "not synchronised: record times may be wrong"},
	"clock.platform":   {"由平台校时", "set by the platform"},
	"clock.now":        {"本机时间", "Box time"},
	"clock.boot":       {"启动标识", "Boot id"},
	"clock.version":    {"软件版本", "Software version"},
	"lane.idle":        {"空闲", "idle"},
	"lane.running":     {"检测中：%s", "testing: %s"},

	"state.ok":         {"正常", "OK"},
	"state.warming_up": {"预热/忙", "warming up / busy"},
	"state.error":      {"通信错误", "communication error"},
	"state.absent":     {"未连接", "not connected"},
	"state.starting":   {"启动中", "starting"},

	"status.warmup":      {"预热", "warm-up"},
	"status.zeroing":     {"调零中", "zeroing"},
	"status.leak_check":  {"泄漏检查中", "leak check"},
	"status.low_flow":    {"流量低", "low flow"},
	"status.busy":        {"忙", "busy"},
	"status.sensor_aged": {"传感器老化", "sensor aged"},
	"status.fault":       {"故障", "fault"},

	"q.hc_ppm":          {"HC (ppm)", "HC (ppm)"},
	"q.co_pct":          {"CO (%)", "CO (%)"},
	"q.co2_pct":         {"CO₂ (%)", "CO₂ (%)"},
	"q.o2_pct":          {"O₂ (%)", "O₂ (%)"},
	"q.no_ppm":          {"NO (ppm)", "NO (ppm)"},
	"q.nox_ppm":         {"NOx (ppm)", "NOx (ppm)"},
	"q.lambda":          {"过量空气系数 λ", "Lambda λ"},
	"q.lambda_analyzer": {"λ（分析仪）", "λ (analyzer)"},
	"q.rpm":             {"转速 (r/min)", "Engine speed (r/min)"},
	"q.oil_temp_c":      {"油温 (°C)", "Oil temp. (°C)"},
	"q.temp_c":          {"环境温度 (°C)", "Ambient temp. (°C)"},
	"q.rh_pct":          {"相对湿度 (%)", "Rel. humidity (%)"},
	"q.pressure_kpa":    {"大气压 (kPa)", "Pressure (kPa)"},
	"q.pef":             {"PEF", "PEF"},
	"q.warmup_s":        {"剩余预热 (s)", "Warm-up left (s)"},
	"q.opacity_pct":     {"不透光度 N (%)", "Opacity N (%)"},
	"q.k_m1":            {"光吸收系数 k (m⁻¹)", "Absorption k (m⁻¹)"},
	"q.speed_kmh":       {"车速 (km/h)", "Speed (km/h)"},
	"q.force_n":         {"力 (N)", "Force (N)"},
	"q.power_kw":        {"功率 (kW)", "Power (kW)"},
	"q.flow_lps":        {"流量 (L/s)", "Flow (L/s)"},
	"q.flow_std_lps":    {"标准流量 (L/s)", "Std. flow (L/s)"},
	"q.flow_temp_c":     {"气体温度 (°C)", "Gas temp. (°C)"},
	"q.flow_kpa":        {"气体压力 (kPa)", "Gas pressure (kPa)"},
	"q.o2_dil_pct":      {"稀释 O₂ (%)", "Diluted O₂ (%)"},
	"q.torque_nm":       {"扭矩 (N·m)", "Torque (N·m)"},
	"q.accel_ms2":       {"加速度 (m/s²)", "Accel. (m/s²)"},
	"q.distance_m":      {"距离 (m)", "Distance (m)"},
	"q.wind_ms":         {"风速 (m/s)", "Wind (m/s)"},
	"q.t_s":             {"时间 (s)", "Time (s)"},
	"q.lambda_min":      {"λ（下限）", "λ (lower limit)"},
	"q.lambda_max":      {"λ（上限）", "λ (upper limit)"},

	"cmd.zero":      {"调零", "Zero"},
	"cmd.leak":      {"泄漏检查", "Leak check"},
	"cmd.pump_on":   {"开泵", "Pump on"},
	"cmd.pump_off":  {"关泵", "Pump off"},
	"cmd.lift_up":   {"举升器升起", "Lift up"},
	"cmd.lift_down": {"举升器降下", "Lift down"},
	"cmd.dyno_off":  {"测功机卸载", "Dyno: release load"},
	"cmd.why":       {"设备状态为“正常”且无检测进行时可用", "Available when the device is OK and no test is running"},

	"checks.title":        {"设备自检", "Device self-checks"},
	"checks.intro":        {"每日自检的结果作为“自检”记录保存并上传平台。", "Each daily self-check is stored as a check record and uploaded to the platform."},
	"checks.today":        {"今日状态", "Today"},
	"checks.last":         {"今日最近一次", "Latest today"},
	"checks.notrun":       {"今日未做", "not run today"},
	"checks.passed":       {"通过", "passed"},
	"checks.failed":       {"未通过", "failed"},
	"checks.none":         {"没有适用于已配置设备的自检。", "No self-check applies to the configured devices."},
	"checks.recent":       {"最近的自检记录", "Recent check records"},
	"checks.running":      {"自检进行中，请按设备提示操作…", "Self-check running; follow the device's instructions…"},
	"check.analyzer_leak": {"分析仪泄漏检查", "Analyzer leak check"},

	"config.title":      {"配置", "Configuration"},
	"config.file":       {"配置文件", "Configuration file"},
	"config.intro":      {"修改后先“检查”，无误再“应用”。应用时原子写入，并保留上一版本以便回滚；新配置在重启 imagent 后生效。", "Check your changes first, then apply. Applying writes the file atomically and keeps the previous version for rollback; the new configuration takes effect when imagent restarts."},
	"config.validate":   {"检查", "Check"},
	"config.apply":      {"应用", "Apply"},
	"config.rollback":   {"回滚到上一版本", "Roll back to the previous version"},
	"config.restart":    {"重启 imagent 使配置生效", "Restart imagent to use it"},
	"config.ok":         {"配置无误。", "The configuration is valid."},
	"config.applied":    {"已保存（上一版本保存在 %s）。重启 imagent 后生效。", "Saved (previous version kept as %s). It takes effect when imagent restarts."},
	"config.rolledback": {"已回滚到上一版本。重启 imagent 后生效。", "Rolled back to the previous version. It takes effect when imagent restarts."},
	"config.restarting": {"imagent 正在重启…", "imagent is restarting…"},
	"config.problems":   {"发现 %d 个问题：", "%d problems found:"},
	"config.warnings":   {"提醒：", "Warnings:"},
	"config.line":       {"第 %d 行", "line %d"},
	"config.noprev":     {"没有可回滚的上一版本。", "There is no previous version to roll back to."},
	"config.datadir":    {"不能在控制台修改 agent.data_dir：旧目录中未上传的记录会被遗留。请在网关上手动迁移。", "agent.data_dir cannot be changed from the console: records not yet uploaded would be left behind in the old directory. Move it by hand on the gateway."},
	"config.pending":    {"已应用的配置尚未生效，需要重启 imagent。", "An applied configuration is waiting for imagent to restart."},
	"config.devices":    {"当前设备", "Devices now"},
	"config.adddev":     {"添加设备", "Add a device"},
	"config.adddevhint": {"填写后点“加入编辑框”，会在配置末尾追加一段 [[device]]，再检查并应用。", "Fill in and press “Add to editor”: a [[device]] block is appended to the text; then check and apply."},
	"config.addbtn":     {"加入编辑框", "Add to editor"},
	"config.name":       {"名称", "Name"},
	"config.baud":       {"波特率（0 = 协议默认）", "Baud (0 = protocol default)"},
	"config.probe":      {"探测串口", "Probe a port"},
	"config.probehint":  {"依次用已知协议打开串口并读一次，找出接的是什么仪器。正在被设备使用的串口不能探测。", "Opens the port with each known protocol and reads once, to find out which instrument is attached. A port a device is using cannot be probed."},
	"config.probebtn":   {"探测", "Probe"},
	"config.found":      {"找到：%s", "found: %s"},
	"config.notfound":   {"无应答", "no answer"},
	"config.use":        {"用这个", "Use this"},
	"config.probing":    {"探测中…", "Probing…"},
	"config.ports":      {"本机串口", "Serial ports on this box"},

	"records.title":      {"记录", "Records"},
	"records.plate":      {"号牌号码", "Plate"},
	"records.vin":        {"车辆识别代号 (VIN)", "VIN"},
	"records.insp":       {"检验流水号", "Inspection no."},
	"records.date":       {"日期", "Date"},
	"records.kind":       {"类型", "Kind"},
	"records.any":        {"全部", "all"},
	"records.method":     {"检测方法", "Method"},
	"records.verdict":    {"结论", "Verdict"},
	"records.sync":       {"同步状态", "Sync state"},
	"records.stored":     {"保存时间", "Stored"},
	"records.older":      {"更早的记录 →", "Older records →"},
	"records.newest":     {"← 最新", "← Newest"},
	"records.none":       {"没有符合条件的记录。", "No records match."},
	"records.export":     {"导出", "Export"},
	"records.exportcsv":  {"导出 CSV", "Export CSV"},
	"records.exportjson": {"导出 JSON", "Export JSON"},
	"records.badid":      {"记录不存在。", "No such record."},
	"record.title":       {"记录 %s", "Record %s"},
	"record.seq":         {"序号", "Seq"},
	"record.id":          {"记录标识", "Record id"},
	"record.vehicle":     {"车辆", "Vehicle"},
	"record.fuel":        {"燃料", "Fuel"},
	"record.phases":      {"各工况结果", "Results by phase"},
	"record.quantity":    {"项目", "Quantity"},
	"record.value":       {"测量值", "Measured"},
	"record.limit":       {"限值", "Limit"},
	"record.source":      {"依据", "Source"},
	"record.unverified":  {"限值尚未与标准原文核对", "limit not yet checked against the official text"},
	"record.process":     {"过程数据（逐秒）", "Process data (per second)"},
	"record.rows":        {"%d 行", "%d rows"},
	"record.raw":         {"原始记录（JSON，与上传内容一致）", "Stored envelope (JSON, as uploaded)"},
	"record.attempts":    {"发送次数", "Send attempts"},
	"record.acked":       {"平台确认时间", "Acked at"},
	"record.reason":      {"拒收原因", "Reject reason"},
	"record.abort":       {"中止原因", "Abort reason"},
	"record.frames":      {"原始帧", "Raw frames"},
	"record.framesnote":  {"%d 帧，SHA-256 %s", "%d frames, SHA-256 %s"},
	"record.devices":     {"使用的设备", "Instruments"},
	"record.check":       {"自检项目", "Check"},
	"record.started":     {"开始", "Started"},
	"record.ended":       {"结束", "Ended"},
	"record.body":        {"内容", "Body"},

	"sync.pending":  {"待上传", "waiting to upload"},
	"sync.sent":     {"已发送，待平台确认", "sent, awaiting the platform's ack"},
	"sync.acked":    {"平台已确认", "acknowledged by the platform"},
	"sync.rejected": {"平台拒收", "rejected by the platform"},

	"kind.test":      {"检测", "test"},
	"kind.check":     {"自检", "self-check"},
	"kind.repair":    {"维修", "repair"},
	"kind.event":     {"事件", "event"},
	"kind.telemetry": {"遥测", "telemetry"},

	"verdict.pass":  {"合格", "pass"},
	"verdict.fail":  {"不合格", "fail"},
	"verdict.abort": {"中止", "aborted"},

	"method.tsi":        {"双怠速法", "Two-speed idle"},
	"method.asm":        {"稳态工况法", "Steady-state loaded (ASM)"},
	"method.vmas":       {"简易瞬态工况法", "Simple transient (VMAS)"},
	"method.free_accel": {"自由加速法", "Free acceleration"},
	"method.lugdown":    {"加载减速法", "Lug-down"},

	"fuel.gasoline": {"汽油", "gasoline"},
	"fuel.lpg":      {"液化石油气", "LPG"},
	"fuel.ng":       {"天然气", "natural gas"},
	"fuel.diesel":   {"柴油", "diesel"},

	"test.title":     {"检测", "Test"},
	"test.start":     {"开始检测", "Start the test"},
	"test.cancel":    {"中止检测", "Abort the test"},
	"test.method":    {"检测方法", "Method"},
	"test.insp":      {"检验流水号", "Inspection no."},
	"test.plate":     {"号牌号码", "Plate"},
	"test.platetype": {"号牌种类", "Plate type"},
	"test.vin":       {"车辆识别代号 (VIN)", "VIN"},
	"test.fuel":      {"燃料种类", "Fuel"},
	"test.gvw":       {"最大总质量 (kg)", "Gross vehicle weight (kg)"},
	"test.rm":        {"基准质量 (kg)", "Reference mass (kg)"},
	"test.catalyst":  {"装有闭环三元催化器", "Closed-loop three-way catalyst"},
	"test.nolane":    {"本检测线没有配置分析仪，不能做检测。", "This lane has no analyzer configured, so it cannot run tests."},
	"test.phase":     {"工况", "Phase"},
	"test.prompt":    {"提示", "Instruction"},
	"test.remaining": {"剩余", "Remaining"},
	"test.target":    {"目标转速", "Target speed"},
	"test.rpm":       {"当前转速", "Engine speed"},
	"test.result":    {"检测结束：%s", "Test finished: %s"},
	"test.open":      {"查看记录", "Open the record"},
	"test.notstored": {"检测未能判定或保存：%s", "The test could not be judged or stored: %s"},
	"test.last":      {"上一次检测", "Last test"},

	"phase.prepare":           {"准备：等待分析仪就绪并调零", "Preparing: analyzer getting ready and zeroing"},
	"phase.precondition_ramp": {"加速到 %s r/min（预热工况）", "Raise engine speed to %s r/min (preconditioning)"},
	"phase.precondition":      {"保持 %s r/min（预热工况）", "Hold %s r/min (preconditioning)"},
	"phase.high_idle_ramp":    {"调到高怠速 %s r/min，插入取样探头", "Go to high idle, %s r/min, probe in"},
	"phase.high_idle_hold":    {"保持高怠速 %s r/min", "Hold high idle, %s r/min"},
	"phase.high_idle":         {"高怠速测量中，保持 %s r/min", "Measuring at high idle; hold %s r/min"},
	"phase.low_idle_ramp":     {"松开油门，回到怠速", "Release the pedal: idle"},
	"phase.low_idle_hold":     {"保持怠速", "Hold idle"},
	"phase.low_idle":          {"怠速测量中，保持怠速", "Measuring at idle; hold idle"},
	"phase.done":              {"检测完成：松开油门，取出探头", "Test complete: release the pedal, remove the probe"},

	"ph.prepare":           {"准备", "prepare"},
	"ph.precondition_ramp": {"预热加速", "precond. ramp"},
	"ph.precondition":      {"预热工况", "precondition"},
	"ph.high_idle_ramp":    {"升高怠速", "to high idle"},
	"ph.high_idle_hold":    {"高怠速稳定", "high idle hold"},
	"ph.high_idle":         {"高怠速测量", "high idle"},
	"ph.low_idle_ramp":     {"回怠速", "to idle"},
	"ph.low_idle_hold":     {"怠速稳定", "idle hold"},
	"ph.low_idle":          {"怠速测量", "low idle"},
	"ph.done":              {"结束", "done"},

	"js.connecting":      {"正在连接实时数据…", "Connecting to live data…"},
	"js.disconnected":    {"实时数据已断开，正在重连…", "Live data disconnected; reconnecting…"},
	"js.agoS":            {"%d 秒前", "%d s ago"},
	"js.agoM":            {"%d 分钟前", "%d min ago"},
	"js.never":           {"无数据", "no data"},
	"js.none":            {"无", "none"},
	"js.neverAck":        {"从未", "never"},
	"js.running":         {"执行中…", "Running…"},
	"js.done":            {"完成", "Done"},
	"js.failed":          {"失败：", "Failed: "},
	"js.confirm":         {"确定执行“%s”？", "Run “%s”?"},
	"js.confirmApply":    {"确定应用此配置？上一版本会被保留。", "Apply this configuration? The previous version is kept."},
	"js.confirmRollback": {"确定回滚到上一版本？", "Roll back to the previous version?"},
	"js.confirmRestart":  {"确定重启 imagent？正在进行的连接会中断片刻。", "Restart imagent? Connections drop for a moment."},
	"js.confirmCancel":   {"确定中止正在进行的检测？中止也会生成一条记录。", "Abort the running test? An aborted test is also recorded."},
	"js.line":            {"第 %d 行", "line %d"},
	"js.seconds":         {"%d 秒", "%d s"},
	"js.yes":             {"是", "yes"},
	"js.up":              {"已连接", "connected"},
	"js.down":            {"未连接", "not connected"},
	"js.laneRunning":     {"检测中：%s", "testing: %s"},
	"js.laneIdle":        {"空闲", "idle"},
	"js.checkRunning":    {"自检进行中，请按设备提示操作…", "Self-check running; follow the device's instructions…"},
	"js.passed":          {"通过", "passed"},
	"js.failedCheck":     {"未通过", "failed"},
	"js.problems":        {"发现 %d 个问题：", "%d problems found:"},
	"js.warnings":        {"提醒：", "Warnings:"},
	"js.probing":         {"探测中…", "Probing…"},
	"js.found":           {"找到：%s", "found: %s"},
	"js.notfound":        {"无应答", "no answer"},
	"js.use":             {"用这个", "Use this"},
	"js.testResult":      {"检测结束：%s", "Test finished: %s"},
	"js.openRecord":      {"查看记录", "Open the record"},
	"js.notStored":       {"检测未能判定或保存：%s", "The test could not be judged or stored: %s"},
	"js.no":              {"否", "no"},
}
