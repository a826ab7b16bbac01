"""The ``nnrun`` command: the only module that touches Hydra's runtime."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Callable, List, Optional

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from nnrecipes.command_line.argv import (chosen_for_user, for_this_process,
                                         with_config_folders_checked, with_paths_as_typed,
                                         with_table_model)
from nnrecipes.command_line.collector import tune_collector
from nnrecipes.command_line.show import HELP_FLAGS, asks_for_config, show_config, show_help
from nnrecipes.command_line.torchrun_modes import (RANK_ZERO_MODES, has_work_under_torchrun,
                                                   refuse_torchrun_sweeps)
from nnrecipes.core.config import PATH_KEYS, ConfigError, Mode, config_dir
from nnrecipes.core.explain import describe, explain
from nnrecipes.core.overrides import multirun
from nnrecipes.core.registry import register_configs
from nnrecipes.core.targets import user_code_failure
from nnrecipes.records.folders import claimed, drop_refused, named_folder, remove_run_folder
from nnrecipes.records.resume import (command_resumes, eval_command, resume_command,
                                      sweep_resume_command)
from nnrecipes.run.torchrun import alone_in_rank_zero, tell_torchrun, torchrun_rank

log = logging.getLogger("nnrecipes")
# Set by `nnrun --debug`: errors are raised with their traceback instead of worded in one line.
DEBUG_VARIABLE = "NNRUN_DEBUG"


def _debugging() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


class SweepSummary(Callback):
    """Around a multirun: the chosen loggers' parent run first; at the end, the summary CSV and
    ranked table, the parent run closed, and exit code 1 if any job failed.

    Hydra turns an exception in a callback into a warning and goes on, so what must stop the
    sweep (a tracker that cannot be reached) exits here, and a tracker's failure at the end is
    reported without hiding the sweep's own exit code."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        from nnrecipes.command_line.slurm_jobs import prepare_launcher
        from nnrecipes.command_line.sweep_composition import compose_each_job_once
        from nnrecipes.components.loggers import open_group

        prepare_launcher(str(config.hydra.launcher.get("_target_", "")))
        compose_each_job_once()
        if config.mode != Mode.train:
            return
        try:
            open_group(config, Path(config.hydra.sweep.dir))
        except ConfigError as error:
            print(f"nnrun: error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        except Exception as error:  # noqa: BLE001 - the jobs still log, each on its own
            log.warning(f"the loggers could not open the sweep's parent run: {describe(error)}")

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from nnrecipes.components.loggers import close_group
        from nnrecipes.records.sweep import summarize_sweep, unfinished

        failed = unfinished(summarize_sweep(Path(config.hydra.sweep.dir)))
        if config.mode == Mode.train:
            try:
                close_group(config, Path(config.hydra.sweep.dir), ok=not failed)
            except Exception as error:  # noqa: BLE001 - a tracker gone away must not hide
                log.warning(f"the loggers could not close the sweep's parent run: "
                            f"{describe(error)}")
        if failed:
            raise SystemExit(1)


def _traceback_to_log_file(error: BaseException) -> None:
    """The full traceback goes to the run's own log file; the console gets one line."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "traceback:", None,
                            (type(error), error, error.__traceback__))
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def _sweep_job(cfg: DictConfig, run_dir: Path, overrides: List[str], user_errors) -> None:
    """One job of a multirun: a failure is recorded and reported, and the sweep goes on."""
    from nnrecipes.command_line.slurm_jobs import only_rank_zero_writes_the_log
    from nnrecipes.modes.train import train_or_cross_validate
    from nnrecipes.records.resume import already_completed, continue_sweep_job
    from nnrecipes.records.sweep import summarize_sweep
    from nnrecipes.run import distributed
    from nnrecipes.run.interrupt import Interrupted, pass_on

    number = HydraConfig.get().job.num
    distributed.adopt_slurm_tasks()
    only_rank_zero_writes_the_log()
    if cfg.sweep.resume and already_completed(run_dir, overrides):
        log.info(f"job {number} already completed in {run_dir}; skipped")
        return
    continue_sweep_job(cfg, run_dir)
    _share_cores(cfg)
    try:
        train_or_cross_validate(cfg, run_dir, overrides,
                                parent_dir=Path(HydraConfig.get().sweep.dir))
    except Interrupted as stop:
        log.error(f"job {number}: {stop}")
        if not torchrun_rank():
            summarize_sweep(Path(HydraConfig.get().sweep.dir))
        pass_on(stop.signal_number)  # under submitit: requeue this job, which then resumes
        raise SystemExit(stop.exit_code) from None
    except Exception as error:
        log.error(f"job {number} failed ({' '.join(overrides)}): {describe(error)}")
        if not isinstance(error, user_errors):
            _traceback_to_log_file(error)
        if cfg.sweep.fail_fast:
            log.error("sweep.fail_fast=true: stopping the sweep")
            summarize_sweep(Path(HydraConfig.get().sweep.dir))
            raise SystemExit(1) from None


def _share_cores(cfg: DictConfig) -> None:
    from nnrecipes.command_line.parallel import jobs_side_by_side
    from nnrecipes.run.devices import cores, share_cores

    available = cores()
    jobs = jobs_side_by_side(HydraConfig.get().launcher, available)
    if jobs > 1 and cfg.device.threads is None:  # threads the user set are theirs
        log.info(f"{jobs} jobs side by side on {available} cores: {share_cores(jobs)} threads each")


def _paths_from(launch_dir: str, cfg: DictConfig) -> None:
    """With hydra.job.chdir=true the job runs inside its run folder; the relative paths the user
    typed still mean the folder nnrun was started in."""
    for key in PATH_KEYS:
        value = OmegaConf.select(cfg, key)
        if value and not Path(value).expanduser().is_absolute():
            OmegaConf.update(cfg, key, str(Path(launch_dir) / value))


def _compose_in_app(overrides: List[str]) -> DictConfig:
    return hydra.compose(config_name="config", overrides=overrides)


def _task(cfg: DictConfig) -> None:
    # Imported here so that `nnrun --help` and config errors answer without loading torch.
    from nnrecipes.data import DataError
    from nnrecipes.records.checkpoint import CheckpointError
    from nnrecipes.records.resume import untouched_unless_accepted
    from nnrecipes.run.loop import TrainingDiverged

    user_errors = (ConfigError, DataError, CheckpointError, TrainingDiverged, OSError,
                   OmegaConfBaseException)
    tune_collector()  # here too: a parallel launcher's workers run jobs, never main()
    hydra_config = HydraConfig.get()
    run_dir = Path(hydra_config.runtime.output_dir)
    # Not resolved: an override may hold a ${...} that is the user's error, to be worded below.
    overrides = list(OmegaConf.to_container(hydra_config.overrides.task))
    if not has_work_under_torchrun(cfg, hydra_config.mode == RunMode.MULTIRUN):
        return
    if hydra_config.job.chdir:
        _paths_from(hydra_config.runtime.cwd, cfg)
    for line in chosen_for_user:
        log.info(line)
    if hydra_config.mode == RunMode.MULTIRUN and cfg.mode == Mode.train:
        return _sweep_job(cfg, run_dir, overrides, user_errors)
    alone = alone_in_rank_zero() if cfg.mode in RANK_ZERO_MODES else contextlib.nullcontext()
    with untouched_unless_accepted(cfg, run_dir, overrides) as accept, alone:
        _run_mode(cfg, run_dir, overrides, user_errors, accept)


def _run_mode(cfg: DictConfig, run_dir: Path, overrides: List[str], user_errors,
              accept: Callable[[], None]) -> None:
    from nnrecipes.modes import ModeContext, run_mode
    from nnrecipes.run.interrupt import Interrupted

    try:
        run_mode(cfg, run_dir, ModeContext(overrides, on_accepted=accept,
                                           compose=_compose_in_app))
    except user_errors as error:
        if not cfg.resume and not torchrun_rank():  # a new run's folder, refused: not kept
            drop_refused(run_dir)
        _stop(error, f"error: {describe(error)}", 2)
    except Interrupted as stop:
        # Under torchrun every rank stops at the same step; rank 0 says where to continue.
        _stop(stop, str(stop) if not torchrun_rank() else "", stop.exit_code)
    except Exception as error:
        _traceback_to_log_file(error)
        blamed = user_code_failure(error)
        if blamed:  # raised in the user's own model or data code: theirs to fix
            _stop(error, f"error: {blamed}; its traceback is in {run_dir / 'nnrun.log'}", 2)
        _stop(error, f"internal error: {type(error).__name__}: {error}. This is a bug in "
                     f"nnrecipes; its traceback is in {run_dir / 'nnrun.log'} (nnrun --debug "
                     f"shows it here)", 1)


def _stop(error: BaseException, message: str, exit_code: int) -> None:
    """Say what went wrong in one line and exit; under --debug, raise it with its traceback."""
    if message:
        log.error(message)
        tell_torchrun(message)
    if _debugging():
        raise error
    raise SystemExit(exit_code) from None


def _completing_option_names(args: List[str]) -> bool:
    """Tab completion of ``group=`` (bash sets COMP_LINE): Hydra lists the YAML files and
    composes nothing, so the declarations, and torch, need not be loaded for it."""
    line = os.environ.get("COMP_LINE")
    if not ({"--shell-completion", "-sc"} & set(args)) or line is None:
        return False
    word = "" if line.endswith(" ") else line.split()[-1]
    return "." not in word


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of ``nnrun``; ``argv`` (without the program name) defaults to sys.argv."""
    args = list(sys.argv[1:] if argv is None else argv)
    saved = {name: os.environ.get(name) for name in (DEBUG_VARIABLE, "HYDRA_FULL_ERROR")}
    if "--debug" in args:
        args = [arg for arg in args if arg != "--debug"]
        os.environ[DEBUG_VARIABLE] = "1"
    overwrite = "--overwrite" in args
    args = [arg for arg in args if arg != "--overwrite"]
    # Hydra then raises what goes wrong as it is, and it is worded here in one line.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    saved_argv = sys.argv
    tune_collector()
    scratch = None
    try:
        refuse_torchrun_sweeps(args)
        args = with_config_folders_checked(with_paths_as_typed(args))
        if not HELP_FLAGS & set(args) and not _completing_option_names(args):
            args = with_table_model(args)  # before a sweep's resume looks for its overrides
        args = sweep_resume_command(resume_command(eval_command(args)))
        args, scratch = for_this_process(args)
        register_configs(group_schemas=not _completing_option_names(args))
        if HELP_FLAGS & set(args):
            return show_help([arg for arg in args if arg not in HELP_FLAGS])
        if asks_for_config(args):
            return show_config(args)
        sys.argv = ["nnrun", *args]
        folder = named_folder(args, multirun(args))
        resuming = folder is not None and command_resumes(args, folder, multirun(args))
        with claimed(folder, multirun(args), resuming, overwrite):
            hydra.main(config_path=str(config_dir()), config_name="config",
                       version_base="1.3")(_task)()
    except Exception as error:
        if _debugging():
            raise
        if not torchrun_rank():  # under torchrun, rank 0 speaks for all
            print(f"nnrun: error: {explain(error)}", file=sys.stderr)
        tell_torchrun(f"nnrun: error: {explain(error)}")
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        if _debugging():
            raise
        print("nnrun: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        sys.argv = saved_argv
        if scratch is not None:
            _remove_scratch(scratch)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def entry() -> None:
    """The ``nnrun`` command. Once everything is written and flushed, and no other thread is
    left to finish its work, the process ends without the interpreter's teardown: freeing
    torch's, scikit-learn's and matplotlib's modules one by one took 0.4 s of the README's
    first command's 5.7 s (docs/benchmarks-archive.md), and writes nothing."""
    code: object = 0
    try:
        main()
    except SystemExit as stop:
        code = stop.code
    logging.shutdown()  # the log files flushed and closed, as the interpreter's exit would
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    if threading.active_count() > 1 or not isinstance(code, (int, type(None))):
        raise SystemExit(code)  # a thread still working (a tracker's): the usual exit waits
    os._exit(code or 0)


def _remove_scratch(folder: Path) -> None:
    """A scratch run folder goes when the command ends, unless it holds the traceback of an
    internal error, which the error line points to."""
    error = sys.exc_info()[1]
    if isinstance(error, SystemExit) and error.code == 1:
        return
    remove_run_folder(folder)


if __name__ == "__main__":
    entry()
