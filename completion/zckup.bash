# bash completion for zckup(1); installed as
# $datadir/bash-completion/completions/zckup by meson and the Debian package.
# Commands and options come from the zckup being completed ('zckup --help',
# 'zckup COMMAND --help'), so they stay in step with it.
_zckup()
{
	local cur prev words cword
	if declare -F _init_completion >/dev/null; then
		_init_completion || return
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	fi
	local zckup=${words[0]} verb="" i
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-*) ;;
		*) verb=${words[i]}; break ;;
		esac
	done
	if [ -z "$verb" ]; then
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W '--help --version --json' -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$("$zckup" --help 2>/dev/null |
				awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }')" -- "$cur")
		fi
		return
	fi
	# -t is --threads for make, --target (a path) for plan and apply
	[[ $prev == -t && $verb == make ]] && return
	case $prev in
	--level | -l | --threads | --source-size | -S | --target-offset | --max-ranges | \
		--connections | --retries | --timeout | --header-sha256 | --source-index-sha256 | \
		--http-header | --user | --dict-size | --dict-samples | --top | -n | \
		--exec | -e)
		return ;;
	--progress)
		mapfile -t COMPREPLY < <(compgen -W 'json' -- "$cur")
		return ;;
	--profile | -p)
		mapfile -t COMPREPLY < <(compgen -W 'compat fine' -- "$cur")
		return ;;
	--dict)
		# auto, none, or a dictionary file
		mapfile -t COMPREPLY < <(compgen -W 'auto none' -- "$cur"; compgen -f -- "$cur")
		compopt -o filenames 2>/dev/null
		return ;;
	--url | -u)
		[[ $cur == http* ]] && return ;;
	esac
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$("$zckup" "$verb" --help 2>/dev/null |
			grep -oE -- '--[a-z][a-z0-9-]+' | sort -u)" -- "$cur")
		return
	fi
	mapfile -t COMPREPLY < <(compgen -f -- "$cur")
	compopt -o filenames 2>/dev/null
}
complete -F _zckup zckup
