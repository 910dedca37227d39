<#
.SYNOPSIS
  Starts or stops the Athlete Ally monitoring stack (runbook: monitoring/README.md).

.DESCRIPTION
  scripts/start-monitoring.ps1            # start: Prometheus :9090, Grafana :3000, Jaeger :16686
  scripts/start-monitoring.ps1 stop       # stop and drop the volumes (compose `down -v`)
  scripts/start-monitoring.ps1 status     # what runs

  With a Docker engine (`docker info` answers) it runs
    docker compose -f docker-compose/preview.yml up -d prometheus grafana jaeger
  (or `docker-compose` when the compose plugin is missing). Grafana needs
  $env:GF_SECURITY_ADMIN_PASSWORD (no password is committed).

  Without one, when a `prometheus` executable is on PATH, it starts it on
  127.0.0.1:9090 with monitoring/prometheus.yml and storage under the temp folder,
  and writes its PID to a file so `stop` ends exactly that process. Grafana and
  Jaeger need Docker.
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('start', 'up', 'stop', 'down', 'status')]
    [string]$Action = 'start'
)

$ErrorActionPreference = 'Stop'
Set-Location (Join-Path $PSScriptRoot '..')

$ComposeFile = 'docker-compose/preview.yml'
$PrometheusBin = if ($env:PROMETHEUS_BIN) { $env:PROMETHEUS_BIN } else { 'prometheus' }
$PrometheusPort = if ($env:PROMETHEUS_PORT) { $env:PROMETHEUS_PORT } else { '9090' }
$TempRoot = [System.IO.Path]::GetTempPath()
$StateDir = Join-Path $TempRoot 'athlete-ally-monitoring'
$PidFile = Join-Path $StateDir 'prometheus.pid'
$LogFile = Join-Path $StateDir 'prometheus.log'
$ErrFile = Join-Path $StateDir 'prometheus.err.log'
$DataDir = Join-Path $StateDir 'prometheus-data'
$ConfigFile = (Resolve-Path 'monitoring/prometheus.yml').Path

$OnWindows = ($PSVersionTable.PSEdition -eq 'Desktop') -or $IsWindows

# Whether a native command succeeds, its output discarded. (Windows PowerShell 5.1
# turns redirected stderr into errors, which 'Stop' would make fatal.)
function Test-NativeCommand {
    param([scriptblock]$Command)
    $saved = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try {
        & $Command *> $null
        return ($LASTEXITCODE -eq 0)
    } catch {
        return $false
    } finally {
        $ErrorActionPreference = $saved
    }
}

function Test-DockerEngine {
    if ($env:MONITORING_NO_DOCKER) { return $false }
    if (-not (Get-Command docker -ErrorAction SilentlyContinue)) { return $false }
    return (Test-NativeCommand { docker info })
}

# Runs `docker compose` (v2 plugin) or `docker-compose` (v1) on the preview stack.
function Invoke-Compose {
    param([string[]]$ComposeArgs)
    if (Test-NativeCommand { docker compose version }) {
        & docker compose -f $ComposeFile @ComposeArgs
    } elseif (Get-Command docker-compose -ErrorAction SilentlyContinue) {
        & docker-compose -f $ComposeFile @ComposeArgs
    } else {
        throw "neither 'docker compose' nor 'docker-compose' is installed"
    }
    if ($LASTEXITCODE -ne 0) { throw "compose $($ComposeArgs -join ' ') failed (exit $LASTEXITCODE)" }
}

# The fallback Prometheus started by this script, if it still runs.
function Get-FallbackProcess {
    if (-not (Test-Path $PidFile)) { return $null }
    $text = Get-Content $PidFile -Raw -ErrorAction SilentlyContinue
    $id = 0
    if (-not $text -or -not [int]::TryParse($text.Trim(), [ref]$id)) { return $null }
    $proc = Get-Process -Id $id -ErrorAction SilentlyContinue
    if ($null -eq $proc) { return $null }
    # Guard against a recycled PID: it must be a Prometheus.
    if ($proc.ProcessName -notlike '*prometheus*') { return $null }
    return $proc
}

# Whether anything accepts connections on the fallback port.
function Test-PortAnswers {
    $client = New-Object System.Net.Sockets.TcpClient
    try {
        $client.Connect('127.0.0.1', [int]$PrometheusPort)
        return $true
    } catch {
        return $false
    } finally {
        $client.Close()
    }
}

function Start-Docker {
    if (-not $env:GF_SECURITY_ADMIN_PASSWORD) {
        throw "set GF_SECURITY_ADMIN_PASSWORD to the Grafana admin password first (none is committed), e.g. `$env:GF_SECURITY_ADMIN_PASSWORD = '<a password of your choice>'"
    }
    Invoke-Compose @('up', '-d', 'prometheus', 'grafana', 'jaeger')
    $grafanaPort = if ($env:GRAFANA_PORT) { $env:GRAFANA_PORT } else { '3000' }
    Write-Host ''
    Write-Host 'Prometheus  http://127.0.0.1:9090  (targets: http://127.0.0.1:9090/targets)'
    Write-Host "Grafana     http://127.0.0.1:$grafanaPort  (user admin, password from GF_SECURITY_ADMIN_PASSWORD)"
    Write-Host 'Jaeger      http://127.0.0.1:16686  (OTLP gRPC 127.0.0.1:4317)'
    Write-Host "The services too: docker compose -f $ComposeFile up -d --build"
}

function Start-Fallback {
    Write-Host 'No Docker engine answers (docker info failed): starting a local prometheus instead.'
    Write-Host 'Grafana and Jaeger need Docker; they are not started.'
    if (-not (Get-Command $PrometheusBin -ErrorAction SilentlyContinue)) {
        throw "'$PrometheusBin' not found: install Prometheus or set PROMETHEUS_BIN"
    }
    $running = Get-FallbackProcess
    if ($null -ne $running) {
        Write-Host "Prometheus already runs (PID $($running.Id)): http://127.0.0.1:$PrometheusPort"
        return
    }
    if (Test-PortAnswers) {
        throw "something already answers on 127.0.0.1:$PrometheusPort (another Prometheus?); stop it or set PROMETHEUS_PORT"
    }
    New-Item -ItemType Directory -Force -Path $DataDir | Out-Null
    $arguments = @(
        "--config.file=`"$ConfigFile`"",
        "--storage.tsdb.path=`"$DataDir`"",
        "--web.listen-address=127.0.0.1:$PrometheusPort",
        '--web.enable-lifecycle'
    )
    $startArgs = @{
        FilePath               = $PrometheusBin
        ArgumentList           = $arguments
        PassThru               = $true
        RedirectStandardOutput = $LogFile
        RedirectStandardError  = $ErrFile
    }
    # -WindowStyle exists on Windows only.
    if ($OnWindows) { $startArgs['WindowStyle'] = 'Hidden' }
    $proc = Start-Process @startArgs
    Set-Content -Path $PidFile -Value $proc.Id
    $ready = $false
    for ($i = 0; $i -lt 60 -and -not $ready; $i++) {
        if ($proc.HasExited) {
            Remove-Item -Force $PidFile -ErrorAction SilentlyContinue
            Get-Content $ErrFile -Tail 20 -ErrorAction SilentlyContinue | Write-Host
            throw "prometheus exited at start (log: $ErrFile); is port $PrometheusPort already taken?"
        }
        try {
            Invoke-WebRequest -UseBasicParsing -TimeoutSec 2 "http://127.0.0.1:$PrometheusPort/-/ready" | Out-Null
            $ready = $true
        } catch {
            Start-Sleep -Milliseconds 500
        }
    }
    if ($proc.HasExited) {
        Remove-Item -Force $PidFile -ErrorAction SilentlyContinue
        throw "prometheus exited at start (log: $ErrFile)"
    }
    if (-not $ready) { Write-Warning "Prometheus did not answer /-/ready within 30 s (log: $ErrFile)" }
    Write-Host "Prometheus  http://127.0.0.1:$PrometheusPort  (PID $($proc.Id), written to $PidFile)"
    Write-Host "  config  $ConfigFile (targets 127.0.0.1:9464, :9465, :9466; rules monitoring/rules/)"
    Write-Host "  storage $DataDir"
    Write-Host "  log     $ErrFile"
    Write-Host 'Stop it with: scripts/start-monitoring.ps1 stop'
}

function Stop-Fallback {
    $proc = Get-FallbackProcess
    if ($null -eq $proc) {
        Remove-Item -Force $PidFile -ErrorAction SilentlyContinue
        return
    }
    Write-Host "stopping Prometheus (PID $($proc.Id))"
    Stop-Process -Id $proc.Id -ErrorAction SilentlyContinue
    $proc.WaitForExit(10000) | Out-Null
    Remove-Item -Force $PidFile -ErrorAction SilentlyContinue
    # Like `down -v`: the storage goes too.
    Remove-Item -Recurse -Force $DataDir -ErrorAction SilentlyContinue
}

function Stop-All {
    Stop-Fallback
    if (Test-DockerEngine) {
        # `down` does not use the Grafana password, but the compose file requires the
        # variable to be set for interpolation.
        $saved = $env:GF_SECURITY_ADMIN_PASSWORD
        if (-not $saved) { $env:GF_SECURITY_ADMIN_PASSWORD = 'unused-by-down' }
        try { Invoke-Compose @('down', '-v') } finally { $env:GF_SECURITY_ADMIN_PASSWORD = $saved }
    }
}

function Show-Status {
    $proc = Get-FallbackProcess
    if ($null -ne $proc) {
        Write-Host "fallback Prometheus runs: PID $($proc.Id), http://127.0.0.1:$PrometheusPort"
    } else {
        Write-Host 'no fallback Prometheus started by this script'
    }
    if (Test-DockerEngine) {
        $saved = $env:GF_SECURITY_ADMIN_PASSWORD
        if (-not $saved) { $env:GF_SECURITY_ADMIN_PASSWORD = 'unused-by-ps' }
        try { Invoke-Compose @('ps') } finally { $env:GF_SECURITY_ADMIN_PASSWORD = $saved }
    } else {
        Write-Host 'no Docker engine answers'
    }
}

New-Item -ItemType Directory -Force -Path $StateDir | Out-Null
switch ($Action) {
    { $_ -in 'start', 'up' } {
        if (Test-DockerEngine) { Start-Docker } else { Start-Fallback }
    }
    { $_ -in 'stop', 'down' } { Stop-All }
    'status' { Show-Status }
}
