// The `loupe` executable: the command line with the built-in views.
import LoupeCommands
import LoupeViews

LoupeCommand.main(views: BuiltinViews.plugins)
